//! The console's one way to read and change anything: the JSON API, called
//! in process.
//!
//! Each call is a request to the API's router ([`nestogy_api::app`], with
//! its whole middleware stack) through `tower::ServiceExt::oneshot`, with
//! `Authorization: Bearer <jwt>` minted for this request from the console
//! session ([`crate::session::Console`]). So every read and every action of
//! the console is an API operation: the API checks the user as they are
//! now, the permission, the tenant, the input, and writes the audit row; the
//! console adds no rule of its own. The browser's address (`ConnectInfo`),
//! its `X-Forwarded-For` (believed or not by the API's own rule), request id
//! and user agent go along, so sign-in throttling and logs see the real
//! client.
//!
//! A failure comes back as an [`ApiFailure`] (status, code, message and the
//! per-field problems of a `validation_failed`), which is itself a response:
//! `?` in a page handler turns it into the right HTML page
//! ([`crate::layout::failure_page`]): 401 ends the console session and goes
//! to the sign-in page, 403 and 404 are their pages, other 4xx say the
//! API's message.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tower::ServiceExt;

use crate::layout::Chrome;

/// Largest API answer the console reads (a PDF or an export may be big).
const MAX_ANSWER: usize = 64 * 1024 * 1024;

/// How long a POST waits for the first sending of its key to answer
/// ([`Api::call`]): the API's own request timeout.
pub const IN_USE_WAIT: Duration = Duration::from_secs(30);
/// Pause between two sendings while the first still runs.
const IN_USE_POLL: Duration = Duration::from_millis(50);

/// A request body ready to be sent (again): its content type and bytes.
struct SentBody {
    content_type: Option<String>,
    bytes: Bytes,
}

impl From<ApiBody> for SentBody {
    fn from(b: ApiBody) -> Self {
        match b {
            ApiBody::Empty => SentBody {
                content_type: None,
                bytes: Bytes::new(),
            },
            ApiBody::Json(b) => SentBody {
                content_type: Some("application/json".to_owned()),
                bytes: b.into(),
            },
            ApiBody::Raw {
                content_type,
                bytes,
            } => SentBody {
                content_type: Some(content_type),
                bytes: bytes.into(),
            },
        }
    }
}

/// What an in-process call carries over from the browser's request.
#[derive(Clone, Debug, Default)]
pub struct Forward {
    peer: Option<ConnectInfo<SocketAddr>>,
    forwarded_for: Vec<HeaderValue>,
    request_id: Option<HeaderValue>,
    user_agent: Option<HeaderValue>,
}

impl Forward {
    /// What of the browser's request `parts` the API should see.
    pub fn from_parts(parts: &Parts) -> Self {
        let one = |name: &str| parts.headers.get(name).cloned();
        Forward {
            peer: parts.extensions.get::<ConnectInfo<SocketAddr>>().cloned(),
            forwarded_for: parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .cloned()
                .collect(),
            request_id: one("x-request-id"),
            user_agent: one(header::USER_AGENT.as_str()),
        }
    }

    /// The browser's `User-Agent`, if it sent a readable one.
    pub fn user_agent(&self) -> Option<String> {
        self.user_agent
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// The TCP peer's address, if the server gave one.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer.map(|ConnectInfo(a)| a)
    }
}

/// A body for [`Api::call`].
pub enum ApiBody {
    Empty,
    Json(Vec<u8>),
    /// Anything else: a multipart upload, a CSV, with its content type.
    Raw {
        content_type: String,
        bytes: Vec<u8>,
    },
}

impl ApiBody {
    /// `value` as JSON.
    pub fn json(value: &impl Serialize) -> Self {
        // Serializing our own request types cannot fail.
        ApiBody::Json(serde_json::to_vec(value).unwrap_or_else(|_| b"null".to_vec()))
    }
}

/// An answer read whole: for PDFs, CSV and files.
#[derive(Debug)]
pub struct ApiBytes {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub bytes: Vec<u8>,
}

impl ApiBytes {
    /// A client's file (an attachment) as an answer of ours, with the API's
    /// type, length and disposition: never a page of the site (no script,
    /// no style, its own origin if a browser shows it anyway), never cached.
    pub fn into_download(self) -> Response {
        let mut r = self.bytes.into_response();
        for name in [
            header::CONTENT_TYPE,
            header::CONTENT_LENGTH,
            header::CONTENT_DISPOSITION,
        ] {
            if let Some(v) = self.headers.get(&name) {
                r.headers_mut().insert(name, v.clone());
            }
        }
        let h = r.headers_mut();
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; sandbox"),
        );
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-store"),
        );
        r
    }
}

/// A client of the API for one console request, as one user.
#[derive(Clone)]
pub struct Api {
    router: Router,
    bearer: Option<String>,
    forward: Forward,
    /// The page frame error pages are drawn in (once the user is known).
    chrome: Option<Frame>,
    /// Sent as `Idempotency-Key` with POSTs; see [`Api::once`].
    once: Option<String>,
}

/// The frame a failure's page is drawn in: the console's (its user known)
/// or a portal's (the company known, the contact when signed in).
#[derive(Debug, Clone)]
pub enum Frame {
    Console(Arc<Chrome>),
    Portal(Arc<crate::portal::layout::PortalChrome>),
}

impl Api {
    /// A client of `router` (the API's) without credentials: sign-in.
    pub fn anonymous(router: Router, forward: Forward) -> Self {
        Api {
            router,
            bearer: None,
            forward,
            chrome: None,
            once: None,
        }
    }

    /// A client sending `bearer` (an access token) with every call.
    pub fn with_bearer(router: Router, forward: Forward, bearer: String) -> Self {
        Api {
            router,
            bearer: Some(bearer),
            forward,
            chrome: None,
            once: None,
        }
    }

    /// The same client, whose failures render inside `chrome`'s frame.
    pub(crate) fn with_chrome(mut self, chrome: Arc<Chrome>) -> Self {
        self.chrome = Some(Frame::Console(chrome));
        self
    }

    /// The same client, whose failures render inside `frame`.
    pub(crate) fn with_frame(mut self, frame: Frame) -> Self {
        self.chrome = Some(frame);
        self
    }

    /// The same client, sending `key` as the `Idempotency-Key` of its
    /// POSTs, so a form posted twice (a double click, a page sent again)
    /// does its work once: the second post gets the first one's answer,
    /// waiting for it while the first still runs. The key is the form's own
    /// ([`crate::layout::once_field`]); one the API would refuse is not sent.
    pub fn once(&self, key: &str) -> Api {
        let usable = nestogy_api::idempotency::is_valid_key(key.as_bytes());
        Api {
            once: usable.then(|| key.to_owned()),
            ..self.clone()
        }
    }

    /// `GET path`, the answer as `T`.
    pub async fn get<T: DeserializeOwned>(&self, path: impl AsRef<str>) -> Result<T, ApiFailure> {
        self.json(Method::GET, path.as_ref(), ApiBody::Empty).await
    }

    /// `GET path`, or `None` when the user may not see it (403): for a
    /// block of a page that some roles do not get.
    pub async fn get_optional<T: DeserializeOwned>(
        &self,
        path: impl AsRef<str>,
    ) -> Result<Option<T>, ApiFailure> {
        match self.get(path).await {
            Ok(v) => Ok(Some(v)),
            Err(f) if f.status == StatusCode::FORBIDDEN => Ok(None),
            Err(f) => Err(f),
        }
    }

    /// `method path` with `body` as JSON, the answer as `T` (`()` for a
    /// 204).
    pub async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        path: impl AsRef<str>,
        body: &impl Serialize,
    ) -> Result<T, ApiFailure> {
        self.json(method, path.as_ref(), ApiBody::json(body)).await
    }

    /// `method path` without a body, the answer as `T` (`()` for a 204).
    pub async fn send_empty<T: DeserializeOwned>(
        &self,
        method: Method,
        path: impl AsRef<str>,
    ) -> Result<T, ApiFailure> {
        self.json(method, path.as_ref(), ApiBody::Empty).await
    }

    /// `method path` with any body; the answer's bytes and headers (PDFs,
    /// CSV, uploads).
    pub async fn bytes(
        &self,
        method: Method,
        path: impl AsRef<str>,
        body: ApiBody,
        accept: Option<&str>,
    ) -> Result<ApiBytes, ApiFailure> {
        let r = self.call(method, path.as_ref(), body, accept).await?;
        let (parts, body) = r.into_parts();
        let bytes = axum::body::to_bytes(body, MAX_ANSWER)
            .await
            .map_err(|e| self.failure_internal(format!("reading the API's answer: {e}")))?;
        Ok(ApiBytes {
            status: parts.status,
            headers: parts.headers,
            bytes: bytes.to_vec(),
        })
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: ApiBody,
    ) -> Result<T, ApiFailure> {
        let answer = self
            .bytes(method, path, body, Some("application/json"))
            .await?;
        let bytes: &[u8] = if answer.bytes.is_empty() {
            b"null"
        } else {
            &answer.bytes
        };
        serde_json::from_slice(bytes).map_err(|e| {
            self.failure_internal(format!("the API's answer to {path} did not read: {e}"))
        })
    }

    /// One request to the API; a status of 400 or more is an [`ApiFailure`].
    /// A POST with a key ([`Api::once`]) whose first sending still runs
    /// (409 `idempotency_key_in_use`) is sent again until that one has
    /// answered, whose answer it then gets, for up to [`IN_USE_WAIT`].
    pub async fn call(
        &self,
        method: Method,
        path: impl AsRef<str>,
        body: ApiBody,
        accept: Option<&str>,
    ) -> Result<Response, ApiFailure> {
        let path = path.as_ref();
        let once = (method == Method::POST)
            .then_some(self.once.as_deref())
            .flatten();
        let body = SentBody::from(body);
        let deadline = tokio::time::Instant::now() + IN_USE_WAIT;
        loop {
            match self
                .send_one(method.clone(), path, &body, accept, once)
                .await
            {
                Err(f)
                    if once.is_some()
                        && f.code == "idempotency_key_in_use"
                        && tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(IN_USE_POLL).await;
                }
                answer => return answer,
            }
        }
    }

    async fn send_one(
        &self,
        method: Method,
        path: &str,
        body: &SentBody,
        accept: Option<&str>,
        once: Option<&str>,
    ) -> Result<Response, ApiFailure> {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(k) = once {
            req = req.header("idempotency-key", k);
        }
        if let Some(b) = &self.bearer {
            req = req.header(header::AUTHORIZATION, format!("Bearer {b}"));
        }
        if let Some(a) = accept {
            req = req.header(header::ACCEPT, a);
        }
        for v in &self.forward.forwarded_for {
            req = req.header("x-forwarded-for", v.clone());
        }
        if let Some(v) = &self.forward.request_id {
            req = req.header("x-request-id", v.clone());
        }
        if let Some(v) = &self.forward.user_agent {
            req = req.header(header::USER_AGENT, v.clone());
        }
        if let Some(t) = &body.content_type {
            req = req.header(header::CONTENT_TYPE, t.as_str());
        }
        let mut req = req
            .body(Body::from(body.bytes.clone()))
            .map_err(|e| self.failure_internal(format!("building a request to {path}: {e}")))?;
        if let Some(peer) = self.forward.peer {
            req.extensions_mut().insert(peer);
        }
        let r = match self.router.clone().oneshot(req).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        if r.status().as_u16() < 400 {
            return Ok(r);
        }
        Err(self.failure_of(r).await)
    }

    async fn failure_of(&self, r: Response) -> ApiFailure {
        let status = r.status();
        let bytes = axum::body::to_bytes(r.into_body(), 256 * 1024)
            .await
            .unwrap_or_default();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let e = &v["error"];
        let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
        let fields = e["details"]["fields"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|f| FieldProblem {
                        field: text(&f["field"]),
                        code: text(&f["code"]),
                        message: text(&f["message"]),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let message = e["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| "something went wrong".to_owned());
        ApiFailure {
            status,
            code: e["code"].as_str().unwrap_or("error").to_owned(),
            message,
            fields,
            retry_after_secs: e["details"]["retry_after_secs"].as_u64(),
            chrome: self.chrome.clone(),
        }
    }

    fn failure_internal(&self, message: String) -> ApiFailure {
        tracing::error!(%message, "console: API call failed");
        ApiFailure {
            chrome: self.chrome.clone(),
            ..ApiFailure::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "something went wrong on our side; try again",
            )
        }
    }
}

/// A query string (`?a=1&b=two`) from pairs, each value encoded; empty
/// values are left out, and no pair at all gives "".
pub fn query(pairs: &[(&str, &str)]) -> String {
    let kept: Vec<_> = pairs.iter().filter(|(_, v)| !v.is_empty()).collect();
    if kept.is_empty() {
        return String::new();
    }
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in kept {
        s.append_pair(k, v);
    }
    format!("?{}", s.finish())
}

/// One failing field of a `validation_failed` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    /// Its JSON path, e.g. `email` or `lines[0].quantity`.
    pub field: String,
    pub code: String,
    pub message: String,
}

/// A call the API refused or failed (or a page that cannot be shown): the
/// API's status, code and message, and the failing fields. As a response
/// it is an HTML page (see the module doc).
#[derive(Debug)]
pub struct ApiFailure {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub fields: Vec<FieldProblem>,
    /// `account_locked`: seconds until sign-in is counted again.
    pub retry_after_secs: Option<u64>,
    chrome: Option<Frame>,
}

impl ApiFailure {
    /// A failure of the console's own (a page that does not exist, a query
    /// that does not read).
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiFailure {
            status,
            code: code.to_owned(),
            message: message.into(),
            fields: Vec::new(),
            retry_after_secs: None,
            chrome: None,
        }
    }

    /// 404, as for another tenant's id.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    /// The message of `field`'s problem, if it has one: for a form
    /// re-rendered beside its fields.
    pub fn field(&self, field: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|f| f.field == field)
            .map(|f| f.message.as_str())
    }

    /// Whether the API said the input was wrong (422): re-render the form.
    pub fn is_validation(&self) -> bool {
        self.status == StatusCode::UNPROCESSABLE_ENTITY
    }

    pub(crate) fn frame(&self) -> Option<&Frame> {
        self.chrome.as_ref()
    }

    /// The same failure drawn in `chrome`'s frame.
    pub fn in_frame(mut self, chrome: Arc<Chrome>) -> Self {
        self.chrome = Some(Frame::Console(chrome));
        self
    }
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for ApiFailure {}

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        crate::layout::failure_page(&self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A keyed POST whose first sending still runs (409
    /// `idempotency_key_in_use`) is sent again until it gets the answer;
    /// without a key, the 409 is the answer.
    #[tokio::test]
    async fn a_keyed_post_waits_for_its_first_sending_and_gets_its_answer() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let calls = Arc::new(AtomicUsize::new(0));
        let keys = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (seen, seen_keys) = (calls.clone(), keys.clone());
        let router = Router::new().route(
            "/x",
            axum::routing::post(move |headers: HeaderMap| {
                let (seen, seen_keys) = (seen.clone(), seen_keys.clone());
                async move {
                    let key = headers.get("idempotency-key").cloned();
                    seen_keys.lock().unwrap().push(key);
                    if seen.fetch_add(1, Ordering::SeqCst) < 2 {
                        let busy = serde_json::json!({"error": {"code": "idempotency_key_in_use",
                            "message": "still running", "details": null}});
                        (StatusCode::CONFLICT, axum::Json(busy))
                    } else {
                        (
                            StatusCode::CREATED,
                            axum::Json(serde_json::json!({"id": 7})),
                        )
                    }
                }
            }),
        );
        let api = Api::anonymous(router, Forward::default());
        let Ok(v) = api
            .once("form-key-1")
            .send::<serde_json::Value>(Method::POST, "/x", &serde_json::json!({}))
            .await
        else {
            panic!("the keyed post did not get the first sending's answer");
        };
        assert_eq!(v, serde_json::json!({"id": 7}));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert!(
            keys.lock()
                .unwrap()
                .iter()
                .all(|k| k.as_ref().is_some_and(|k| k == "form-key-1"))
        );

        calls.store(0, Ordering::SeqCst);
        let Err(f) = api
            .send::<serde_json::Value>(Method::POST, "/x", &serde_json::json!({}))
            .await
        else {
            panic!("a post without a key was sent again");
        };
        assert_eq!(f.code, "idempotency_key_in_use");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // A key the API would refuse is not sent.
        assert!(api.once("").once.is_none() && api.once("a\u{7f}").once.is_none());
    }

    #[test]
    fn query_strings_encode_values_and_leave_out_empty_ones() {
        assert_eq!(query(&[]), "");
        assert_eq!(query(&[("a", "")]), "");
        assert_eq!(
            query(&[("status", "new,open"), ("q", "a b&c"), ("x", "")]),
            "?status=new%2Copen&q=a+b%26c"
        );
    }
}
