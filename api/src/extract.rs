//! Extractors that answer bad input in the API's error shape: malformed JSON
//! 400, JSON of the wrong shape 422, oversized bodies 413, bad query strings
//! and path ids 400; a NUL character anywhere (body, query string, path) or
//! a date outside [`nestogy_domain::kernel::dates`]' range 422 `validation_failed`
//! naming the field. Every route reads its input through these, so a new
//! route inherits the checks.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use nestogy_domain::DomainError;
use nestogy_domain::kernel::dates;
use nestogy_domain::kernel::validation::{FieldError, ValidationErrors};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::json_objects::Objects;

/// A JSON body, checked before it is read into `T`: no string or key holds
/// a NUL character (`\u0000`, which PostgreSQL refuses in text and JSONB),
/// and every date a request type reads through [`nestogy_domain::kernel::dates`]
/// lies in the accepted range; either is a 422 `validation_failed` naming
/// the field by its JSON path (`lines[0].description`).
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !json_content_type(req.headers()) {
            return Err(ApiError::status(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with Content-Type: application/json",
            ));
        }
        let RawBody(bytes) = RawBody::from_request(req, state).await?;
        json_from_bytes(&bytes).map(Json)
    }
}

/// `application/json` or `application/<anything>+json`, as axum's `Json`.
fn json_content_type(headers: &HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let Some((ty, sub)) = essence.split_once('/') else {
        return false;
    };
    ty == "application" && (sub == "json" || sub.ends_with("+json"))
}

/// Query-string parameters.
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let pairs = axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
            .map(|q| q.0)
            .unwrap_or_default();
        let pairs = || pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        check_params(pairs(), false)?;
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            // A date field read through `dates` refused its value: name it.
            Err(QueryRejection::FailedToDeserializeQueryString(e))
                if e.body_text().contains(dates::OUT_OF_RANGE) =>
            {
                check_params(pairs(), true)?;
                Err(ApiError::bad_request("invalid_query", e.body_text()))
            }
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => Err(ApiError::bad_request(
                "invalid_query",
                format!("the query string is invalid: {}", e.body_text()),
            )),
            Err(e) => Err(ApiError::bad_request("invalid_query", e.body_text())),
        }
    }
}

/// Path parameters (ids).
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        if let Ok(raw) = RawPathParams::from_request_parts(parts, state).await {
            check_params(raw.iter(), true)?;
        }
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => Err(ApiError::bad_request(
                "invalid_path",
                format!("a path parameter is invalid: {}", e.body_text()),
            )),
            Err(e) => Err(ApiError::bad_request("invalid_path", e.body_text())),
        }
    }
}

/// The raw body, for receivers that check a signature over the exact
/// bytes before reading them (too large: 413 in the API's error shape).
pub struct RawBody(pub axum::body::Bytes);

impl<S> FromRequest<S> for RawBody
where
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::body::Bytes::from_request(req, state).await {
            Ok(b) => Ok(RawBody(b)),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::status(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the body is larger than this API accepts",
            )),
            Err(e) => Err(ApiError::bad_request("bad_body", e.body_text())),
        }
    }
}

/// Reads JSON from bytes as [`Json`] does: 400 `malformed_json` for bytes
/// that are not JSON, 422 `validation_failed` for a NUL character or a date
/// out of range (naming the field), 422 `invalid_body` for JSON of the
/// wrong shape.
pub fn json_from_bytes<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // A NUL can only arrive escaped (JSON forbids raw control characters in
    // strings), so the body is walked only when the escape occurs in it.
    if bytes.windows(6).any(|w| w == b"\\u0000") {
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(malformed)?;
        let mut fields = Vec::new();
        nul_fields(&value, &mut String::new(), &mut fields);
        if !fields.is_empty() {
            let mut v = ValidationErrors::new();
            for f in fields {
                v.add(&f, "nul_character", NUL_MESSAGE);
            }
            return Err(DomainError::Validation(v).into());
        }
    }
    // No route takes an array at the top, so none is accepted (structs
    // deeper down are read from objects only: `Objects` below).
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        serde_json::from_slice::<serde::de::IgnoredAny>(bytes).map_err(malformed)?;
        return Err(ApiError::InvalidBody {
            message: "the body does not have the expected shape: a JSON object, not an array"
                .to_owned(),
            field: FieldError {
                field: ".".to_owned(),
                code: "invalid_type",
                message: "must be a JSON object, not an array".to_owned(),
            },
        });
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(Objects(&mut de)).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let text = inner.to_string();
                // Ours, or chrono's for a year beyond what it reads.
                if text.starts_with(dates::OUT_OF_RANGE)
                    || text.starts_with("input is out of range")
                {
                    let mut v = ValidationErrors::new();
                    v.add(&path, "out_of_range", dates::range_message(&path));
                    DomainError::Validation(v).into()
                } else {
                    let at = if path == "." {
                        String::new()
                    } else {
                        format!("{path}: ")
                    };
                    ApiError::InvalidBody {
                        message: format!("the body does not have the expected shape: {at}{inner}"),
                        field: shape_error(&path, &inner),
                    }
                }
            }
            _ => malformed(inner),
        }
    })?;
    de.end().map_err(malformed)?;
    Ok(value)
}

/// The field a shape error is about, by its JSON path, with a code for
/// what is wrong and serde's words without the position in the body. A
/// missing field is reported at its own path (serde reports it at its
/// parent's).
fn shape_error(path: &str, e: &serde_json::Error) -> FieldError {
    let text = e.to_string();
    let position = format!(" at line {} column {}", e.line(), e.column());
    let message = text.strip_suffix(&position).unwrap_or(&text).to_owned();
    let named = |prefix: &str| {
        let rest = message.strip_prefix(prefix)?;
        rest.split('`').next().map(str::to_owned)
    };
    let (code, field) = if let Some(name) = named("missing field `") {
        let field = if path == "." {
            name
        } else {
            format!("{path}.{name}")
        };
        ("required", field)
    } else {
        let code = [
            ("unknown field", "unknown_field"),
            ("unknown variant", "unknown_variant"),
            ("invalid type", "invalid_type"),
            ("invalid length", "invalid_length"),
            ("invalid value", "invalid_value"),
        ]
        .into_iter()
        .find(|(p, _)| message.starts_with(p))
        .map_or("invalid", |(_, c)| c);
        (code, path.to_owned())
    };
    FieldError {
        field,
        code,
        message,
    }
}

const NUL_MESSAGE: &str = "must not contain the NUL character (\\u0000)";

fn malformed(e: serde_json::Error) -> ApiError {
    ApiError::bad_request("malformed_json", format!("the body is not valid JSON: {e}"))
}

/// The paths (`a.b[0].c`) of strings and keys holding a NUL character.
fn nul_fields(v: &serde_json::Value, path: &mut String, out: &mut Vec<String>) {
    use serde_json::Value;
    let here = |path: &str| {
        if path.is_empty() {
            ".".to_owned()
        } else {
            path.to_owned()
        }
    };
    match v {
        Value::String(s) if s.contains('\0') => out.push(here(path)),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                nul_fields(item, path, out);
                path.truncate(len);
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&k.replace('\0', "\\u0000"));
                if k.contains('\0') {
                    out.push(here(path));
                } else {
                    nul_fields(item, path, out);
                }
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// 422 `validation_failed` for query or path parameters (name, value) that
/// hold a NUL character or (with `dated`) are dates outside the accepted
/// range.
fn check_params<'a>(
    params: impl Iterator<Item = (&'a str, &'a str)>,
    dated: bool,
) -> Result<(), ApiError> {
    let mut v = ValidationErrors::new();
    for (name, value) in params {
        if name.contains('\0') || value.contains('\0') {
            v.add(&name.replace('\0', "\\u0000"), "nul_character", NUL_MESSAGE);
        } else if dated
            && let Ok(d) = value.parse::<chrono::NaiveDate>()
            && !dates::in_range(d)
        {
            v.add(name, "out_of_range", dates::range_message(name));
        }
    }
    v.finish().map_err(ApiError::from)
}
