//! Console sessions: sign-in, who is signed in ([`Console`]), CSRF on every
//! form ([`Form`]), sign-out and sign-out everywhere.
//!
//! - The cookie `nestogy_console` holds 32 random bytes (base64url);
//!   `web_sessions` holds only their SHA-256
//!   ([`nestogy_domain::identity::web_sessions`]). HttpOnly, SameSite=Lax,
//!   Path=/console, Secure unless the request named a loopback host (the
//!   API's cookie helper, [`nestogy_api::admin::session::set_cookie_on`]).
//! - A session ends 12 hours after its last request or 7 days after
//!   sign-in, on sign-out, and with everything that moves the user's token
//!   version on (sign out everywhere, a new password, deactivation): each
//!   request calls the API with a token minted from the session's token
//!   version, so a moved-on version answers 401 and the session ends there
//!   (the API's revocation also deletes the rows at once).
//! - Sign-in is the API's `POST /api/v1/auth/login`, called in process: the
//!   same throttling and lockout, TOTP and audit. The refresh token it
//!   issues is revoked at once through `POST /api/v1/auth/logout` (the
//!   console never refreshes: it mints a short token per request).
//! - CSRF: every form carries `csrf`, HMAC-SHA256 of the session cookie's
//!   value under the API's CSRF key ([`nestogy_api::JwtKeys::csrf_token`],
//!   purpose `console`); the sign-in form's is bound to a random pre-session
//!   cookie (`nestogy_console_login`, purpose `console-login`). [`Form`]
//!   checks it before it reads anything else, so a handler that takes a
//!   `Form` cannot forget it; a POST without the right token answers a 403
//!   page.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use maud::{Markup, html};
use nestogy_api::admin::session::{cookie, is_form, see_other, set_cookie_on};
use nestogy_domain::identity::company::Company;
use nestogy_domain::identity::users::User;
use nestogy_domain::identity::web_sessions::{self, ABSOLUTE_TIMEOUT, Holder, Origin};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::WebState;
use crate::api_client::{Api, ApiFailure, Forward};
use crate::fmt::Fmt;
use crate::layout::{self, CSRF_FIELD, Chrome, Section};

/// The session cookie.
pub const COOKIE: &str = "nestogy_console";
/// The random cookie the sign-in form's CSRF token is bound to.
pub const LOGIN_COOKIE: &str = "nestogy_console_login";
/// Where the console's cookies are sent.
const PATH: &str = "/console";
const SESSION_PURPOSE: &str = "console";
const LOGIN_PURPOSE: &str = "console-login";

fn set_cookie(headers: &HeaderMap, name: &str, value: &str, max_age: i64) -> HeaderValue {
    set_cookie_on(headers, name, value, max_age, PATH, "Lax")
}

/// A response extension: this answer ends the request's session (the row
/// is deleted and the cookie with it, by [`end_sessions`]).
#[derive(Debug, Clone, Copy)]
pub struct Ended;

/// A 303 to the sign-in page that ends the request's session.
pub fn to_login_ending_session() -> Response {
    let mut r = see_other("/console/login");
    r.extensions_mut().insert(Ended);
    r
}

/// Why the sign-in page is shown, said on it (`?notice=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginNotice {
    /// The user changed their password: every session ended.
    PasswordChanged,
}

impl LoginNotice {
    fn as_str(self) -> &'static str {
        match self {
            LoginNotice::PasswordChanged => "password_changed",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "password_changed" => Some(LoginNotice::PasswordChanged),
            _ => None,
        }
    }

    fn message(self) -> &'static str {
        match self {
            LoginNotice::PasswordChanged => {
                "Your password was changed and every session of yours ended: sign in with the new password."
            }
        }
    }
}

/// [`to_login_ending_session`], the sign-in page saying `notice`.
pub fn to_login_ending_session_saying(notice: LoginNotice) -> Response {
    let mut r = see_other(&format!("/console/login?notice={}", notice.as_str()));
    r.extensions_mut().insert(Ended);
    r
}

/// Middleware of every console route: when the answer says the session
/// ended ([`Ended`]: signed out, or the API answered 401), deletes the
/// session's row and the browser's cookie.
pub async fn end_sessions(State(s): State<WebState>, req: Request, next: Next) -> Response {
    end_session_of(&s, COOKIE, PATH, req, next).await
}

/// [`end_sessions`] for the session in cookie `name` (sent to `path`).
pub(crate) async fn end_session_of(
    s: &WebState,
    name: &str,
    path: &str,
    req: Request,
    next: Next,
) -> Response {
    let session = cookie(req.headers(), name);
    let mut host = HeaderMap::new();
    if let Some(h) = req.headers().get(header::HOST) {
        host.insert(header::HOST, h.clone());
    }
    let mut r = next.run(req).await;
    if r.extensions().get::<Ended>().is_some() {
        if let Some(c) = session
            && let Err(e) = web_sessions::delete(&s.app.db, &c).await
        {
            tracing::error!(error = %e, "ending a web session failed");
        }
        r.headers_mut().append(
            header::SET_COOKIE,
            set_cookie_on(&host, name, "", 0, path, "Lax"),
        );
    }
    r
}

pub(crate) fn internal(what: &str, e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "console: {what}");
    layout::problem(
        StatusCode::INTERNAL_SERVER_ERROR,
        None,
        "something went wrong on our side; try again in a moment",
        &[],
    )
}

#[derive(Deserialize)]
struct MeAnswer {
    user: User,
}

/// The signed-in user of a console request, checked by the API on this
/// request: the session is live, and the API accepted a token minted from
/// it (the user is active, the token version current) and told who the
/// user and the company are. Without a live session the answer is the
/// sign-in page.
pub struct Console {
    /// The API, as this user: every page reads and acts through it.
    pub api: Api,
    /// The user as the API has them now (role included).
    pub user: User,
    pub company: Company,
    /// The company's locale and time zone.
    pub fmt: Fmt,
    /// The frame of this user's pages.
    pub chrome: Arc<Chrome>,
    /// The clock's now for this request.
    pub now: DateTime<Utc>,
}

impl Console {
    /// The CSRF token this session's forms carry ([`layout::csrf_field`]).
    pub fn csrf(&self) -> &str {
        &self.chrome.csrf
    }

    /// A 200 page of `section` in this user's frame.
    pub fn page(&self, section: Section, title: &str, body: Markup) -> Response {
        self.page_with(StatusCode::OK, Some(section), title, body)
    }

    /// A page with `status` (a form re-rendered with the API's 422, say).
    pub fn page_with(
        &self,
        status: StatusCode,
        section: Option<Section>,
        title: &str,
        body: Markup,
    ) -> Response {
        layout::respond(
            status,
            layout::page(Some(&self.chrome), section, title, body),
        )
    }

    /// A page saying what went wrong, in this user's frame.
    pub fn problem(&self, status: StatusCode, message: &str) -> Response {
        layout::problem(status, Some(&self.chrome), message, &[])
    }
}

impl FromRequestParts<WebState> for Console {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &WebState) -> Result<Self, Response> {
        let Some(value) = cookie(&parts.headers, COOKIE) else {
            return Err(see_other("/console/login"));
        };
        let session = match web_sessions::find(&s.app.db, &value).await {
            Ok(Some(session)) => session,
            Ok(None) => return Err(to_login_ending_session()),
            Err(e) => return Err(internal("reading a session", e)),
        };
        // A portal session's cookie is never sent here; refuse one anyway.
        let Holder::User(user_id) = session.holder else {
            return Err(to_login_ending_session());
        };
        let db = &s.app.db;
        // The role claim is informational (the API reads the role on every
        // call); the user's cached state gives the current one.
        let role = match nestogy_domain::kernel::user_state::current(
            &db.pool,
            &db.users,
            session.tenant,
            user_id,
        )
        .await
        {
            Ok(Some(u)) => u.role,
            Ok(None) => return Err(to_login_ending_session()),
            Err(e) => return Err(internal("reading a user's state", e)),
        };
        let now = db.clock.now();
        let token = s
            .app
            .jwt
            .issue(session.tenant, user_id, role, session.token_version, now)
            .map_err(|e| internal("minting a token", e))?;
        let api = Api::with_bearer(s.api.clone(), Forward::from_parts(parts), token);
        let (me, company) = tokio::join!(
            api.get::<MeAnswer>("/api/v1/auth/me"),
            api.get::<Company>("/api/v1/company")
        );
        let user = me.map_err(IntoResponse::into_response)?.user;
        let company = company.map_err(IntoResponse::into_response)?;
        let chrome = Arc::new(Chrome {
            company: company.name.clone(),
            user_name: user.name.clone(),
            user_email: user.email.clone(),
            role: user.role,
            csrf: s.app.jwt.csrf_token(SESSION_PURPOSE, &value),
        });
        Ok(Console {
            api: api.with_chrome(chrome.clone()),
            fmt: Fmt::of(&company),
            user,
            company,
            chrome,
            now,
        })
    }
}

/// The 403 page of a form without the right CSRF token.
fn bad_csrf() -> Response {
    layout::problem(
        StatusCode::FORBIDDEN,
        None,
        "this form is out of date or did not come from this site: reload the page and try again",
        &[],
    )
}

/// The fields of a form body; an HTML page when the body is not a form.
pub(crate) async fn form_fields(
    req: Request,
    s: &WebState,
) -> Result<Vec<(String, String)>, Response> {
    if !is_form(req.headers()) {
        return Err(layout::problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            None,
            "send the form as application/x-www-form-urlencoded",
            &[],
        ));
    }
    let bytes = Bytes::from_request(req, s).await.map_err(|_| {
        layout::problem(
            StatusCode::BAD_REQUEST,
            None,
            "the form could not be read",
            &[],
        )
    })?;
    Ok(form_urlencoded::parse(&bytes).into_owned().collect())
}

/// Why a form was refused.
pub(crate) enum Refused {
    /// No CSRF token, or not this session's (or sign-in form's).
    Csrf,
    /// The other fields do not read as the form's type.
    Fields,
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::Csrf => bad_csrf(),
            Refused::Fields => layout::problem(
                StatusCode::BAD_REQUEST,
                None,
                "the form is missing a field or has one it should not",
                &[],
            ),
        }
    }
}

/// Takes the CSRF field out of `fields`, checks it for `purpose` against
/// `bound_to` (the value of the cookie the form's token is bound to), and
/// reads the other fields as `T`.
pub(crate) fn checked<T: DeserializeOwned>(
    s: &WebState,
    bound_to: Option<String>,
    purpose: &str,
    mut fields: Vec<(String, String)>,
) -> Result<T, Refused> {
    let token = fields
        .iter()
        .position(|(k, _)| k == CSRF_FIELD)
        .map(|i| fields.remove(i).1);
    let ok = match (bound_to, token) {
        (Some(c), Some(t)) => s.app.jwt.csrf_ok(purpose, &c, &t),
        _ => false,
    };
    if !ok {
        return Err(Refused::Csrf);
    }
    let mut rest = form_urlencoded::Serializer::new(String::new());
    for (k, v) in &fields {
        rest.append_pair(k, v);
    }
    serde_urlencoded::from_str(&rest.finish()).map_err(|_| Refused::Fields)
}

/// A form body of a signed-in page, its CSRF token checked first (see the
/// module doc), then the other fields read as `T`.
pub struct Form<T>(pub T);

impl<T: DeserializeOwned> FromRequest<WebState> for Form<T> {
    type Rejection = Response;

    async fn from_request(req: Request, s: &WebState) -> Result<Self, Response> {
        let session = cookie(req.headers(), COOKIE);
        let fields = form_fields(req, s).await?;
        checked(s, session, SESSION_PURPOSE, fields)
            .map(Form)
            .map_err(IntoResponse::into_response)
    }
}

/// A file of an [`Upload`].
#[derive(Debug, Clone)]
pub struct UploadedFile {
    /// The form field it came in.
    pub field: String,
    /// The name the browser gave it (may be empty).
    pub filename: String,
    /// The type the browser gave it (may be empty).
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// A `multipart/form-data` form of a signed-in page (uploads): its CSRF
/// token checked as [`Form`] checks it, before the handler sees anything;
/// its text fields and its files. A body that is not multipart answers a
/// 415 page, one that cannot be read (or is larger than the route's body
/// limit) a 400 page.
pub struct Upload {
    pub fields: Vec<(String, String)>,
    pub files: Vec<UploadedFile>,
}

impl Upload {
    /// The text field `name`, or "".
    pub fn field(&self, name: &str) -> &str {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }

    /// The files sent in `field` that are not empty (a file input left
    /// empty sends an empty part).
    pub fn files_in<'a>(&'a self, field: &'a str) -> impl Iterator<Item = &'a UploadedFile> {
        self.files
            .iter()
            .filter(move |f| f.field == field && !(f.bytes.is_empty() && f.filename.is_empty()))
    }
}

impl FromRequest<WebState> for Upload {
    type Rejection = Response;

    async fn from_request(req: Request, s: &WebState) -> Result<Self, Response> {
        Upload::read(req, s, COOKIE, SESSION_PURPOSE).await
    }
}

impl Upload {
    /// Reads a multipart form whose CSRF token is bound, for `purpose`, to
    /// the value of the cookie `cookie_name`.
    pub(crate) async fn read(
        req: Request,
        s: &WebState,
        cookie_name: &str,
        purpose: &str,
    ) -> Result<Self, Response> {
        let session = cookie(req.headers(), cookie_name);
        let unreadable = || {
            layout::problem(
                StatusCode::BAD_REQUEST,
                None,
                "the form could not be read (is the file too large?)",
                &[],
            )
        };
        let mut m = axum::extract::Multipart::from_request(req, s)
            .await
            .map_err(|_| {
                layout::problem(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    None,
                    "send this form from its page (multipart/form-data)",
                    &[],
                )
            })?;
        let mut up = Upload {
            fields: Vec::new(),
            files: Vec::new(),
        };
        let mut token = None;
        while let Some(part) = m.next_field().await.map_err(|_| unreadable())? {
            let name = part.name().unwrap_or_default().to_owned();
            match part.file_name().map(str::to_owned) {
                Some(filename) => {
                    let content_type = part.content_type().unwrap_or_default().to_owned();
                    let bytes = part.bytes().await.map_err(|_| unreadable())?.to_vec();
                    up.files.push(UploadedFile {
                        field: name,
                        filename,
                        content_type,
                        bytes,
                    });
                }
                None => {
                    let text = part.text().await.map_err(|_| unreadable())?;
                    if name == CSRF_FIELD {
                        token = Some(text);
                    } else {
                        up.fields.push((name, text));
                    }
                }
            }
        }
        let ok = match (session, token) {
            (Some(c), Some(t)) => s.app.jwt.csrf_ok(purpose, &c, &t),
            _ => false,
        };
        if !ok {
            return Err(Refused::Csrf.into_response());
        }
        Ok(up)
    }
}

/// A form with no field but its CSRF token.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoFields {}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginFields {
    email: String,
    password: String,
    #[serde(default)]
    totp_code: String,
}

fn login_page_body(
    csrf: &str,
    email: &str,
    problem: Option<&str>,
    notice: Option<LoginNotice>,
) -> Markup {
    html! {
        h1 { "Sign in" }
        @if let Some(n) = notice {
            p.notice #notice role="status" { (n.message()) }
        }
        @if let Some(p) = problem {
            p.problem #problem role="alert" { (p) }
        }
        form.stack method="post" action="/console/login" {
            (layout::csrf_field(csrf))
            label for="email" { "E-mail" }
            input #email name="email" type="email" autocomplete="username" required value=(email);
            label for="password" { "Password" }
            input #password name="password" type="password" autocomplete="current-password" required;
            label for="totp_code" {
                "TOTP code " span.hint { "(if you use two-factor sign-in)" }
            }
            input #totp_code name="totp_code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]*";
            button type="submit" #sign-in { "Sign in" }
        }
    }
}

fn login_answer(status: StatusCode, csrf: &str, email: &str, problem: Option<&str>) -> Response {
    layout::respond(
        status,
        layout::page(
            None,
            None,
            "Sign in",
            login_page_body(csrf, email, problem, None),
        ),
    )
}

/// The sign-in page's query: why it is shown.
#[derive(Debug, Default, Deserialize)]
pub struct LoginParams {
    #[serde(default)]
    notice: String,
}

/// `GET /console/login`: the sign-in form (or home, when signed in).
pub async fn login_page(
    State(s): State<WebState>,
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<LoginParams>,
) -> Response {
    if let Some(value) = cookie(&headers, COOKIE)
        && let Ok(Some(session)) = web_sessions::find(&s.app.db, &value).await
        && matches!(session.holder, Holder::User(_))
    {
        return see_other("/console");
    }
    let nonce = cookie(&headers, LOGIN_COOKIE)
        .unwrap_or_else(|| nestogy_domain::kernel::secrets::random_token(32));
    let csrf = s.app.jwt.csrf_token(LOGIN_PURPOSE, &nonce);
    let body = login_page_body(&csrf, "", None, LoginNotice::parse(&q.notice));
    let mut r = layout::respond(StatusCode::OK, layout::page(None, None, "Sign in", body));
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&headers, LOGIN_COOKIE, &nonce, 3600),
    );
    r
}

#[derive(Deserialize)]
struct Tokens {
    access_token: String,
    refresh_token: String,
}

/// What the sign-in page says for a refused sign-in.
pub(crate) fn sign_in_problem(f: &ApiFailure) -> String {
    match f.retry_after_secs {
        Some(secs) if f.status == StatusCode::TOO_MANY_REQUESTS => {
            let minutes = secs.div_ceil(60).max(1);
            let unit = if minutes == 1 { "minute" } else { "minutes" };
            format!("too many attempts, try again in {minutes} {unit}")
        }
        _ => f.message.clone(),
    }
}

/// `POST /console/login`: signs in through the API, then starts a console
/// session (see the module doc).
pub async fn login(State(s): State<WebState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let forward = Forward::from_parts(&parts);
    let headers = parts.headers.clone();
    let nonce = cookie(&headers, LOGIN_COOKIE);
    let fields = match form_fields(Request::from_parts(parts, body), &s).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let csrf = fields
        .iter()
        .find(|(k, _)| k == CSRF_FIELD)
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let form: LoginFields = match checked(&s, nonce, LOGIN_PURPOSE, fields) {
        Ok(f) => f,
        Err(r) => return r.into_response(),
    };
    let api = Api::anonymous(s.api.clone(), forward.clone());
    let code = form.totp_code.replace(' ', "");
    let mut request = serde_json::json!({"email": form.email, "password": form.password});
    if !code.is_empty() {
        request["totp_code"] = code.into();
    }
    let tokens: Tokens = match api.send(Method::POST, "/api/v1/auth/login", &request).await {
        Ok(t) => t,
        Err(f) if f.status.is_client_error() => {
            let mut r = login_answer(f.status, &csrf, &form.email, Some(&sign_in_problem(&f)));
            if let Some(secs) = f.retry_after_secs
                && let Ok(v) = HeaderValue::from_str(&secs.to_string())
            {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return r;
        }
        Err(f) => return f.into_response(),
    };
    let now = s.app.db.clock.now();
    let Some(claims) = s.app.jwt.access_claims(&tokens.access_token, now) else {
        return internal("reading the sign-in's token", "not a token of ours");
    };
    // The console never refreshes: the sign-in's refresh token ends now.
    let revoked: Result<(), ApiFailure> = api
        .send(
            Method::POST,
            "/api/v1/auth/logout",
            &serde_json::json!({"refresh_token": tokens.refresh_token}),
        )
        .await;
    if let Err(f) = revoked {
        return internal("revoking the sign-in's refresh token", f);
    }
    let origin = Origin {
        user_agent: forward.user_agent(),
        client_addr: forward.peer().map(|p| p.ip().to_string()),
    };
    let created = async {
        let mut tx = s.app.db.tenant(claims.tenant).await?;
        let value = web_sessions::create(
            &mut tx,
            Holder::User(claims.user_id),
            claims.token_version,
            &origin,
        )
        .await?;
        tx.commit().await?;
        Ok::<_, nestogy_domain::DomainError>(value)
    }
    .await;
    let value = match created {
        Ok(v) => v,
        Err(e) => return internal("creating a session", e),
    };
    let mut r = see_other("/console");
    let h = r.headers_mut();
    h.append(
        header::SET_COOKIE,
        set_cookie(&headers, COOKIE, &value, ABSOLUTE_TIMEOUT.num_seconds()),
    );
    h.append(
        header::SET_COOKIE,
        set_cookie(&headers, LOGIN_COOKIE, "", 0),
    );
    r
}

/// `POST /console/logout`: ends this session.
pub async fn logout(Form(NoFields {}): Form<NoFields>) -> Response {
    to_login_ending_session()
}

/// `POST /console/logout-everywhere`: the API's sign-out everywhere (every
/// token and console session of the user ends), then the sign-in page.
pub async fn logout_everywhere(
    c: Console,
    Form(NoFields {}): Form<NoFields>,
) -> Result<Response, ApiFailure> {
    c.api
        .send_empty::<()>(Method::POST, "/api/v1/auth/logout-everywhere")
        .await?;
    Ok(to_login_ending_session())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockouts_say_how_many_minutes() {
        let mut f = ApiFailure::new(StatusCode::TOO_MANY_REQUESTS, "account_locked", "x");
        f.retry_after_secs = Some(61);
        assert_eq!(
            sign_in_problem(&f),
            "too many attempts, try again in 2 minutes"
        );
        f.retry_after_secs = Some(5);
        assert_eq!(
            sign_in_problem(&f),
            "too many attempts, try again in 1 minute"
        );
        let wrong = ApiFailure::new(
            StatusCode::UNAUTHORIZED,
            "invalid_totp",
            "the TOTP code is wrong",
        );
        assert_eq!(sign_in_problem(&wrong), "the TOTP code is wrong");
    }

    #[test]
    fn an_empty_form_reads_as_no_fields() {
        let v: NoFields = serde_urlencoded::from_str("").unwrap();
        let NoFields {} = v;
        assert!(serde_urlencoded::from_str::<NoFields>("x=1").is_err());
    }
}
