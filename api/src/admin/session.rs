//! Signing in to the admin pages, and who is signed in.
//!
//! A browser cannot send our bearer header on a navigation, so the admin
//! pages keep the access token in a cookie: `nestogy_admin`, HttpOnly,
//! SameSite=Strict, Path=/admin (Secure unless the page was asked for on a
//! loopback host), for as long as the token lives. Only these pages read
//! it: the JSON API under `/api` never looks at cookies, so a cookie can
//! never authorize an API call. Each request checks the token as the API
//! does ([`Principal::authenticate`]: the user active, the role and the
//! token version as they are now) and then the role: admins only.
//!
//! Forms that change something (retry, cancel, sign out) carry a CSRF
//! token: HMAC-SHA256 of the session cookie under a key derived from the
//! JWT secret ([`crate::JwtKeys::csrf_token`]); a POST without the right
//! one is refused. The sign-in form has its own, bound to a random
//! pre-session cookie (`nestogy_admin_login`), so another site cannot sign
//! a browser in as someone else either. The refresh token of the sign-in
//! lives in `nestogy_admin_refresh` (same flags) only so that signing out
//! revokes it.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use nestogy_domain::DomainError;
use nestogy_domain::identity::tokens::API_TOKEN_PREFIX;
use nestogy_domain::kernel::roles::Role;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::html::{self, Frame, esc};
use crate::auth::{Principal, request_id};
use crate::error::ApiError;
use crate::routes::auth::{LoginRequest, RequestMeta, sign_in, sign_out};
use crate::state::AppState;

/// The cookie holding the access token.
pub const SESSION_COOKIE: &str = "nestogy_admin";
/// The cookie holding the sign-in's refresh token (for sign-out).
pub const REFRESH_COOKIE: &str = "nestogy_admin_refresh";
/// The random cookie the sign-in form's CSRF token is bound to.
pub const LOGIN_COOKIE: &str = "nestogy_admin_login";
/// The form field carrying the CSRF token.
pub const CSRF_FIELD: &str = "csrf";

const SESSION_PURPOSE: &str = "admin-session";
const LOGIN_PURPOSE: &str = "admin-login";

/// The value of cookie `name` in the request, if sent.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// Whether the request named a loopback host (`localhost`, `127.0.0.1`,
/// `[::1]`): browsers keep no Secure cookie from plain HTTP elsewhere, and
/// elsewhere the pages must be served over HTTPS.
pub fn loopback_host(headers: &HeaderMap) -> bool {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    matches!(name, "localhost" | "127.0.0.1" | "[::1]")
}

/// A `Set-Cookie` value for `name`, HttpOnly, on `path`, with `same_site`
/// (`Strict` or `Lax`), for `max_age` seconds (0 deletes it), and Secure
/// unless the request named a loopback host ([`loopback_host`]). The admin
/// pages' cookies and the console's (crate `nestogy-web`) are made here.
pub fn set_cookie_on(
    headers: &HeaderMap,
    name: &str,
    value: &str,
    max_age: i64,
    path: &str,
    same_site: &str,
) -> HeaderValue {
    let secure = if loopback_host(headers) {
        ""
    } else {
        "; Secure"
    };
    let v = format!(
        "{name}={value}; Path={path}; HttpOnly; SameSite={same_site}; Max-Age={max_age}{secure}"
    );
    // Tokens are base64url or JWTs: always a valid header value.
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

/// A `Set-Cookie` value for an admin page's cookie `name`: `max_age`
/// seconds (0 deletes it).
fn set_cookie(headers: &HeaderMap, name: &str, value: &str, max_age: i64) -> HeaderValue {
    set_cookie_on(headers, name, value, max_age, "/admin", "Strict")
}

/// A 303 to `to`.
pub fn see_other(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn to_login(headers: &HeaderMap, forget_session: bool) -> Response {
    let mut r = see_other("/admin/login");
    if forget_session {
        r.headers_mut().append(
            header::SET_COOKIE,
            set_cookie(headers, SESSION_COOKIE, "", 0),
        );
    }
    r
}

fn is_unauthenticated(e: &ApiError) -> bool {
    match e {
        ApiError::Status { status, .. } => *status == StatusCode::UNAUTHORIZED,
        ApiError::Domain(DomainError::Unauthenticated { .. }) => true,
        _ => false,
    }
}

/// An admin signed in to the admin pages, checked on this request: the
/// session cookie's token is valid and not revoked, the user is active and
/// an admin now. Without a usable cookie the answer is a redirect to the
/// sign-in page; a signed-in user who is not an admin gets 403.
pub struct Admin {
    pub principal: Principal,
    /// The CSRF token of this session's forms.
    pub csrf: String,
    /// The session cookie's token, which `csrf` is made from.
    session_token: String,
}

impl Admin {
    pub fn frame(&self) -> Frame<'_> {
        Frame { csrf: &self.csrf }
    }

    /// Whether `token` is this session's CSRF token.
    pub fn csrf_ok(&self, state: &AppState, token: &str) -> bool {
        state
            .jwt
            .csrf_ok(SESSION_PURPOSE, &self.session_token, token)
    }

    /// The 403 page of a form without this session's CSRF token.
    pub fn bad_csrf(&self) -> Response {
        bad_csrf(Some(&self.frame()))
    }
}

fn bad_csrf(frame: Option<&Frame<'_>>) -> Response {
    html::problem(
        StatusCode::FORBIDDEN,
        frame,
        "this form is out of date or did not come from this site: reload the page and try again",
    )
}

impl Admin {
    fn new(principal: Principal, state: &AppState, session_token: String) -> Self {
        Admin {
            principal,
            csrf: state.jwt.csrf_token(SESSION_PURPOSE, &session_token),
            session_token,
        }
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Response> {
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(to_login(&parts.headers, false));
        };
        // Only a person's access token signs in to these pages.
        if token.starts_with(API_TOKEN_PREFIX) {
            return Err(to_login(&parts.headers, true));
        }
        let principal = match Principal::authenticate(s, &token, request_id(parts)).await {
            Ok(p) => p,
            Err(e) if is_unauthenticated(&e) => return Err(to_login(&parts.headers, true)),
            Err(e) => return Err(html::error_page(e, None).await),
        };
        if principal.role != Role::Admin {
            return Err(html::problem(
                StatusCode::FORBIDDEN,
                None,
                "the queue dashboard is for admins; your role is not admin",
            ));
        }
        Ok(Admin::new(principal, s, token))
    }
}

/// Whether the request's body is an HTML form's
/// (`application/x-www-form-urlencoded`).
pub fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// A form body (`application/x-www-form-urlencoded`); a body of another
/// type or shape answers with an HTML page.
pub struct Form<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Form<T> {
    type Rejection = Response;

    async fn from_request(req: Request, s: &AppState) -> Result<Self, Response> {
        if !is_form(req.headers()) {
            return Err(html::problem(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                None,
                "send the form as application/x-www-form-urlencoded",
            ));
        }
        let bytes = Bytes::from_request(req, s).await.map_err(|_| {
            html::problem(StatusCode::BAD_REQUEST, None, "the form could not be read")
        })?;
        serde_urlencoded::from_bytes(&bytes).map(Form).map_err(|_| {
            html::problem(
                StatusCode::BAD_REQUEST,
                None,
                "the form is missing a field or has one it should not",
            )
        })
    }
}

/// A form whose only field is the CSRF token.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsrfForm {
    pub csrf: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginForm {
    csrf: String,
    email: String,
    password: String,
    #[serde(default)]
    totp_code: String,
}

fn login_form(csrf: &str, email: &str, problem: Option<&str>) -> String {
    let problem = problem
        .map(|m| format!("<p class=\"problem\" id=\"problem\">{}</p>", esc(m)))
        .unwrap_or_default();
    format!(
        "<h1>Sign in</h1>{problem}\
         <form class=\"login\" method=\"post\" action=\"/admin/login\">\
         <input type=\"hidden\" name=\"{CSRF_FIELD}\" value=\"{}\">\
         <label for=\"email\">E-mail</label>\
         <input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" required value=\"{}\">\
         <label for=\"password\">Password</label>\
         <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
         <label for=\"totp_code\">TOTP code (if you use two-factor sign-in)</label>\
         <input id=\"totp_code\" name=\"totp_code\" inputmode=\"numeric\" autocomplete=\"one-time-code\">\
         <p><button type=\"submit\" id=\"sign-in\">Sign in</button></p></form>\
         <p class=\"muted\">The admin pages are for admins of a company.</p>",
        esc(csrf),
        esc(email),
    )
}

/// `GET /admin/login`: the sign-in form (or the queues, when signed in).
pub async fn login_page(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) =
        cookie(&headers, SESSION_COOKIE).filter(|t| !t.starts_with(API_TOKEN_PREFIX))
        && Principal::authenticate(&s, &token, None)
            .await
            .is_ok_and(|p| p.role == Role::Admin)
    {
        return see_other("/admin/queues");
    }
    let nonce = cookie(&headers, LOGIN_COOKIE)
        .unwrap_or_else(|| nestogy_domain::kernel::secrets::random_token(32));
    let csrf = s.jwt.csrf_token(LOGIN_PURPOSE, &nonce);
    let mut r = html::respond(
        StatusCode::OK,
        html::page("Sign in", None, &login_form(&csrf, "", None)),
    );
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&headers, LOGIN_COOKIE, &nonce, 3600),
    );
    r
}

/// `POST /admin/login`: signs in as `POST /api/v1/auth/login` does (the
/// same throttling, TOTP and audit), for admins only, and sets the cookies.
pub async fn login(
    State(s): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let nonce = cookie(&headers, LOGIN_COOKIE);
    let Some(nonce) = nonce.filter(|n| s.jwt.csrf_ok(LOGIN_PURPOSE, n, &form.csrf)) else {
        return bad_csrf(None);
    };
    let again = |status: StatusCode, message: &str| {
        html::respond(
            status,
            html::page(
                "Sign in",
                None,
                &login_form(&form.csrf, &form.email, Some(message)),
            ),
        )
    };
    let code = form.totp_code.trim();
    let request = LoginRequest {
        email: form.email.clone(),
        password: form.password.clone(),
        totp_code: (!code.is_empty()).then(|| code.to_owned()),
    };
    let tokens = match sign_in(&s, &meta, request).await {
        Ok(t) => t,
        Err(e) => {
            let (status, message, retry_after) = html::status_and_message(e).await;
            let mut r = again(status, &message);
            if let Some(v) = retry_after {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return r;
        }
    };
    match Principal::authenticate(&s, &tokens.access_token, meta_request_id(&headers)).await {
        Ok(p) if p.role == Role::Admin => {}
        Ok(_) => {
            // Signed in, but these pages are not theirs: end that sign-in.
            if let Err(e) = sign_out(&s, &meta, &tokens.refresh_token).await {
                return html::error_page(e, None).await;
            }
            return again(
                StatusCode::FORBIDDEN,
                "the admin pages are for admins; your role is not admin",
            );
        }
        Err(e) => return html::error_page(e, None).await,
    }
    let ttl = s.jwt.access_ttl.num_seconds();
    let mut r = see_other("/admin/queues");
    let h = r.headers_mut();
    h.append(
        header::SET_COOKIE,
        set_cookie(&headers, SESSION_COOKIE, &tokens.access_token, ttl),
    );
    h.append(
        header::SET_COOKIE,
        set_cookie(&headers, REFRESH_COOKIE, &tokens.refresh_token, ttl),
    );
    h.append(
        header::SET_COOKIE,
        set_cookie(&headers, LOGIN_COOKIE, &nonce, 0),
    );
    r
}

fn meta_request_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// `POST /admin/logout`: revokes the sign-in's refresh token and deletes
/// the cookies.
pub async fn logout(
    admin: Admin,
    State(s): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !admin.csrf_ok(&s, &form.csrf) {
        return admin.bad_csrf();
    }
    if let Some(refresh) = cookie(&headers, REFRESH_COOKIE)
        && let Err(e) = sign_out(&s, &meta, &refresh).await
    {
        return html::error_page(e, Some(&admin.frame())).await;
    }
    let mut r = see_other("/admin/login");
    let h = r.headers_mut();
    h.append(
        header::SET_COOKIE,
        set_cookie(&headers, SESSION_COOKIE, "", 0),
    );
    h.append(
        header::SET_COOKIE,
        set_cookie(&headers, REFRESH_COOKIE, "", 0),
    );
    r
}

/// `GET /admin`: the queues.
pub async fn home() -> Response {
    see_other("/admin/queues")
}
