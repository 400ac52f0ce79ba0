//! `Idempotency-Key` on POST, as in Stripe's API: a request retried with the
//! same key gets the first answer again instead of doing the work twice.
//!
//! - The key belongs to the caller: (tenant, user, API token or a client's
//!   contact in the portal, key). Other callers' keys never collide with it.
//! - Same key, same request (method, path and query, body: a SHA-256
//!   fingerprint): the stored answer, status and body, with
//!   `Idempotent-Replayed: true`.
//! - Same key, another request: 422 `idempotency_key_reused`.
//! - Same key while the first request still runs: 409 `idempotency_key_in_use`.
//! - A key that is empty, longer than 255 characters or not printable ASCII:
//!   400 `invalid_idempotency_key`.
//! - Answers of 500 and above and 429 are not kept: a retry runs again.
//! - Keys expire [`TTL_HOURS`] after first use (then the key is free again);
//!   the maintenance vacuum deletes expired rows.
//!
//! Every authenticated POST takes the header, but for the routes in
//! [`EXCLUDED`], whose answers carry a secret shown once (tokens, signing
//! secrets): that secret is not to be kept in another table, so the
//! header is ignored there. Requests without the header, and requests that
//! do not authenticate (the handler answers 401), pass through untouched.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use nestogy_domain::TenantId;
use sha2::{Digest, Sha256};

use crate::auth::{ContactPrincipal, Principal};
use crate::error::{self, ApiError};
use crate::state::AppState;

/// The request header.
pub const HEADER: &str = "idempotency-key";
/// Set to `true` on a stored answer given again.
pub const REPLAYED: &str = "idempotent-replayed";
/// How long a key is remembered.
pub const TTL_HOURS: i64 = 24;
/// Longest key accepted.
pub const MAX_KEY_LEN: usize = 255;
/// A key still marked in flight this long after it was taken belongs to a
/// request that cannot be running any more (the API times requests out
/// after 30 s; its process may have died): a new request takes it over.
const STALE_LOCK_SECS: i64 = 60;

/// Route templates whose POST ignores the header: sign-in and tokens, and
/// answers that carry a secret shown only once.
pub const EXCLUDED: &[&str] = &[
    "/api/v1/auth/login",
    "/api/v1/auth/refresh",
    "/api/v1/auth/logout",
    "/api/v1/auth/totp/enroll",
    "/api/v1/auth/totp/confirm",
    "/api/v1/auth/totp/disable",
    "/api/v1/api-tokens",
    "/api/v1/webhooks/endpoints",
    "/api/v1/webhooks/endpoints/{id}/rotate-secret",
    "/api/v1/company/rmm/rotate-secret",
];

/// Whether a POST on the route template `path` takes `Idempotency-Key`.
pub fn applies_to(path: &str) -> bool {
    !EXCLUDED.contains(&path)
}

/// The middleware; see the module's documentation.
pub async fn layer(State(s): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST || !req.headers().contains_key(HEADER) {
        return next.run(req).await;
    }
    let Some(route) = req.extensions().get::<MatchedPath>().map(|p| p.as_str()) else {
        return next.run(req).await;
    };
    if !applies_to(route) {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    let (tenant, principal) = match Principal::from_request_parts(&mut parts, &s).await {
        Ok(p) => (
            p.tenant,
            match &p.api_token {
                Some((id, _)) => format!("token:{id}"),
                None => format!("user:{}", p.user_id),
            },
        ),
        Err(_) => match ContactPrincipal::from_request_parts(&mut parts, &s).await {
            Ok(c) => (c.tenant, format!("contact:{}", c.contact.id)),
            // Not authenticated: the handler answers that.
            Err(_) => return next.run(Request::from_parts(parts, body)).await,
        },
    };
    let key = match parse_key(&parts.headers) {
        Ok(k) => k,
        Err(r) => return *r,
    };
    let limit = if parts.uri.path() == crate::routes::imports::IMPORT_PATH {
        crate::routes::imports::IMPORT_BODY_LIMIT
    } else {
        crate::BODY_LIMIT
    };
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => {
            return ApiError::status(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the body is larger than this API accepts",
            )
            .into_response();
        }
    };
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| parts.uri.path().to_owned());
    let slot = Slot {
        db: s.db.clone(),
        tenant,
        principal,
        key,
    };
    let request = Fingerprint::of(parts.method.as_str(), &path, &bytes);
    match slot.claim(&request).await {
        Ok(Claimed::Mine) => {}
        Ok(Claimed::Answered(r)) => return r,
        Err(e) => return e.into_response(),
    }
    let mut guard = Guard(Some(slot));
    let resp = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let slot = guard.0.take().expect("the guard holds the slot until here");
    let status = resp.status();
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        slot.release().await;
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "reading an answer to keep for its idempotency key");
            slot.release().await;
            return error::internal();
        }
    };
    slot.complete(status, &parts.headers, &body).await;
    Response::from_parts(parts, Body::from(body))
}

/// Whether `raw` is a usable key: 1 to [`MAX_KEY_LEN`] printable ASCII
/// characters.
pub fn is_valid_key(raw: &[u8]) -> bool {
    !raw.is_empty() && raw.len() <= MAX_KEY_LEN && raw.iter().all(|b| (0x20..=0x7e).contains(b))
}

/// 400 unless the header is a valid key ([`is_valid_key`]).
fn parse_key(headers: &HeaderMap) -> Result<String, Box<Response>> {
    let raw = headers
        .get(HEADER)
        .map(HeaderValue::as_bytes)
        .unwrap_or(b"");
    if !is_valid_key(raw) {
        return Err(Box::new(error::body(
            StatusCode::BAD_REQUEST,
            "invalid_idempotency_key",
            "the Idempotency-Key header must be 1 to 255 printable ASCII characters",
            serde_json::json!({ "header": "Idempotency-Key" }),
        )));
    }
    Ok(String::from_utf8_lossy(raw).into_owned())
}

/// What makes two requests the same one.
struct Fingerprint {
    method: String,
    path: String,
    digest: Vec<u8>,
}

impl Fingerprint {
    fn of(method: &str, path: &str, body: &Bytes) -> Fingerprint {
        let mut h = Sha256::new();
        for part in [method.as_bytes(), path.as_bytes(), body.as_ref()] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
        Fingerprint {
            method: method.to_owned(),
            path: path.to_owned(),
            digest: h.finalize().to_vec(),
        }
    }
}

/// One caller's key.
struct Slot {
    db: nestogy_domain::Db,
    tenant: TenantId,
    principal: String,
    key: String,
}

enum Claimed {
    /// This request runs; its answer is kept.
    Mine,
    /// Answered without running: a replay, a conflict.
    Answered(Response),
}

#[derive(sqlx::FromRow)]
struct Stored {
    fingerprint: Vec<u8>,
    status: Option<i16>,
    headers: Option<serde_json::Value>,
    body: Option<Vec<u8>>,
}

/// Answer headers kept with the answer.
const KEPT_HEADERS: [HeaderName; 2] = [header::CONTENT_TYPE, header::LOCATION];

impl Slot {
    fn now(&self) -> DateTime<Utc> {
        self.db.clock.now()
    }

    /// Takes the key for this request, or answers from what it holds.
    async fn claim(&self, request: &Fingerprint) -> Result<Claimed, ApiError> {
        // A key released between our insert and our read (its first
        // request failed with a 5xx) is free again: look twice.
        for _ in 0..3 {
            let now = self.now();
            let mut tx = self.db.tenant(self.tenant).await?;
            let mine: Option<bool> = sqlx::query_scalar(
                "INSERT INTO idempotency_keys \
                   (company_id, principal, key, fingerprint, method, path, created_at, locked_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8) \
                 ON CONFLICT (company_id, principal, key) DO UPDATE SET \
                   fingerprint = EXCLUDED.fingerprint, method = EXCLUDED.method, path = EXCLUDED.path, \
                   status = NULL, headers = NULL, body = NULL, created_at = EXCLUDED.created_at, \
                   locked_at = EXCLUDED.locked_at, completed_at = NULL, expires_at = EXCLUDED.expires_at \
                 WHERE idempotency_keys.expires_at <= $7 \
                    OR (idempotency_keys.status IS NULL AND idempotency_keys.locked_at <= $9) \
                 RETURNING true",
            )
            .bind(self.tenant)
            .bind(&self.principal)
            .bind(&self.key)
            .bind(&request.digest)
            .bind(&request.method)
            .bind(&request.path)
            .bind(now)
            .bind(now + Duration::hours(TTL_HOURS))
            .bind(now - Duration::seconds(STALE_LOCK_SECS))
            .fetch_optional(tx.conn())
            .await?;
            if mine.is_some() {
                tx.commit().await?;
                return Ok(Claimed::Mine);
            }
            let stored: Option<Stored> = sqlx::query_as(
                "SELECT fingerprint, status, headers, body FROM idempotency_keys \
                 WHERE company_id = $1 AND principal = $2 AND key = $3",
            )
            .bind(self.tenant)
            .bind(&self.principal)
            .bind(&self.key)
            .fetch_optional(tx.conn())
            .await?;
            tx.end_read();
            let Some(stored) = stored else { continue };
            if stored.fingerprint != request.digest {
                return Err(ApiError::status(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "idempotency_key_reused",
                    "this Idempotency-Key was used with another request; use a new key for a new request",
                ));
            }
            let Some(status) = stored.status else {
                return Err(ApiError::status(
                    StatusCode::CONFLICT,
                    "idempotency_key_in_use",
                    "a request with this Idempotency-Key is still running; try again when it has finished",
                ));
            };
            return Ok(Claimed::Answered(replay(
                status,
                stored.headers,
                stored.body,
            )));
        }
        Err(ApiError::status(
            StatusCode::CONFLICT,
            "idempotency_key_in_use",
            "a request with this Idempotency-Key is still running; try again when it has finished",
        ))
    }

    /// Keeps the answer for retries.
    async fn complete(&self, status: StatusCode, headers: &HeaderMap, body: &Bytes) {
        let kept: serde_json::Map<String, serde_json::Value> = KEPT_HEADERS
            .iter()
            .filter_map(|h| {
                let v = headers.get(h)?.to_str().ok()?;
                Some((h.as_str().to_owned(), serde_json::Value::from(v)))
            })
            .collect();
        let done = async {
            let mut tx = self.db.tenant(self.tenant).await?;
            sqlx::query(
                "UPDATE idempotency_keys SET status = $4, headers = $5, body = $6, completed_at = $7 \
                 WHERE company_id = $1 AND principal = $2 AND key = $3",
            )
            .bind(self.tenant)
            .bind(&self.principal)
            .bind(&self.key)
            .bind(status.as_u16() as i16)
            .bind(serde_json::Value::Object(kept))
            .bind(body.as_ref())
            .bind(self.now())
            .execute(tx.conn())
            .await?;
            tx.commit().await
        };
        if let Err(e) = done.await {
            // The key stays in flight until it is stale; the answer still
            // goes to the client.
            tracing::warn!(error = %e, key = %self.key, "keeping the answer of an idempotency key");
        }
    }

    /// Frees the key: the request's outcome is not to be replayed.
    async fn release(&self) {
        let done = async {
            let mut tx = self.db.tenant(self.tenant).await?;
            sqlx::query(
                "DELETE FROM idempotency_keys \
                 WHERE company_id = $1 AND principal = $2 AND key = $3 AND status IS NULL",
            )
            .bind(self.tenant)
            .bind(&self.principal)
            .bind(&self.key)
            .execute(tx.conn())
            .await?;
            tx.commit().await
        };
        if let Err(e) = done.await {
            tracing::warn!(error = %e, key = %self.key, "freeing an idempotency key");
        }
    }
}

/// Frees the key if the request never finished here (it timed out or its
/// handler panicked): the future holding it was dropped.
struct Guard(Option<Slot>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(slot) = self.0.take()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(async move { slot.release().await });
        }
    }
}

fn replay(status: i16, headers: Option<serde_json::Value>, body: Option<Vec<u8>>) -> Response {
    let status = u16::try_from(status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let mut r = Response::new(Body::from(body.unwrap_or_default()));
    *r.status_mut() = status;
    if let Some(serde_json::Value::Object(h)) = headers {
        for (name, value) in h {
            if let (Ok(n), Some(Ok(v))) = (
                HeaderName::try_from(name.as_str()),
                value.as_str().map(HeaderValue::from_str),
            ) {
                r.headers_mut().insert(n, v);
            }
        }
    }
    r.headers_mut()
        .insert(REPLAYED, HeaderValue::from_static("true"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(v: &[u8]) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(HEADER, HeaderValue::from_bytes(v).unwrap());
        h
    }

    #[test]
    fn keys_are_1_to_255_printable_ascii_characters() {
        assert_eq!(parse_key(&with(b"a")).unwrap(), "a");
        assert!(parse_key(&with(&[b'k'; 255])).is_ok());
        assert!(parse_key(&with(b"order 42: retry #1 ~")).is_ok());
        for bad in [&[b'k'; 256][..], b"", b"tab\there", "caf\u{e9}".as_bytes()] {
            let r = parse_key(&with(bad)).unwrap_err();
            assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        }
    }

    #[test]
    fn the_fingerprint_covers_method_path_and_body() {
        let a = Fingerprint::of("POST", "/x", &Bytes::from_static(b"{}"));
        let same = Fingerprint::of("POST", "/x", &Bytes::from_static(b"{}"));
        assert_eq!(a.digest, same.digest);
        for other in [
            Fingerprint::of("POST", "/y", &Bytes::from_static(b"{}")),
            Fingerprint::of("POST", "/x", &Bytes::from_static(b"{ }")),
            Fingerprint::of("POST", "/x{}", &Bytes::from_static(b"")),
        ] {
            assert_ne!(a.digest, other.digest);
        }
    }
}
