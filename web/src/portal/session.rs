//! Portal sessions: signing in by invitation, by a sign-in link or by
//! password; who is signed in ([`Portal`]); CSRF on every form
//! ([`PortalForm`], [`PortalUpload`]); sign-out and sign-out everywhere.
//!
//! - The session cookie `nestogy_portal` is the console's scheme (32 random
//!   bytes; `web_sessions` holds their SHA-256, the row a contact's), sent
//!   only to `/portal`. A session ends as the console's do, and with
//!   whatever moves the contact's token version on (sign out everywhere, a
//!   new password) or takes their access away: every request calls the API
//!   with a contact token minted from the session, and a 401 ends it.
//! - The browser key cookie `nestogy_portal_browser` (32 random bytes, 30
//!   days) is the key a sign-in link is bound to: the link works only in
//!   the browser that asked for it. The sign-in forms' CSRF tokens are
//!   bound to it too (purpose `portal-login`); signed-in forms' to the
//!   session cookie (purpose `portal`).
//! - A link in a mail opens a page with one button: the link is used by
//!   that POST, never by the GET a mail scanner may send first.
//! - Every sign-in, link and password check is the API's (throttling, the
//!   same words for unknown addresses, audit with the contact as actor).

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use maud::{Markup, html};
use nestogy_api::admin::session::{cookie, see_other, set_cookie_on};
use nestogy_api::routes::portal::{PortalCompany, PortalMe};
use nestogy_domain::identity::web_sessions::{self, ABSOLUTE_TIMEOUT, Holder, Origin};
use nestogy_domain::kernel::secrets::random_token;
use nestogy_domain::portal::PortalContact;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::layout::{self, PortalChrome, Who};
use crate::WebState;
use crate::api_client::{Api, ApiFailure, Forward, Frame};
use crate::fmt::Fmt;
use crate::session::{
    Ended, NoFields, Upload, checked, end_session_of, form_fields, internal, sign_in_problem,
};

/// The session cookie.
pub const COOKIE: &str = "nestogy_portal";
/// The browser's key: sign-in links work only with it.
pub const BROWSER_COOKIE: &str = "nestogy_portal_browser";
const PATH: &str = "/portal";
const SESSION_PURPOSE: &str = "portal";
const LOGIN_PURPOSE: &str = "portal-login";
/// How long a browser keeps its key.
const BROWSER_KEY_DAYS: i64 = 30;

fn set_cookie(headers: &HeaderMap, name: &str, value: &str, max_age: i64) -> HeaderValue {
    set_cookie_on(headers, name, value, max_age, PATH, "Lax")
}

/// Middleware of every portal route: an answer marked [`Ended`] deletes the
/// session's row and the browser's session cookie.
pub async fn end_sessions(State(s): State<WebState>, req: Request, next: Next) -> Response {
    end_session_of(&s, COOKIE, PATH, req, next).await
}

/// A 303 to the portal's sign-in page that ends the request's session.
pub fn to_sign_in_ending_session(slug: &str) -> Response {
    let mut r = see_other(&format!("/portal/{slug}/sign-in"));
    r.extensions_mut().insert(Ended);
    r
}

/// The portal slug of a `/portal/{slug}/...` path.
fn slug_of(path: &str) -> &str {
    path.strip_prefix("/portal/")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_default()
}

/// The portal of `slug` as any visitor sees it (name and branding), or the
/// "no portal here" page.
async fn brand(s: &WebState, forward: Forward, slug: &str) -> Result<PortalCompany, Response> {
    if !nestogy_domain::identity::company::is_valid_portal_slug(slug) {
        return Err(layout::no_portal());
    }
    let api = Api::anonymous(s.api.clone(), forward);
    match api
        .get::<PortalCompany>(format!("/api/v1/portal/{slug}/brand"))
        .await
    {
        Ok(c) => Ok(c),
        Err(f) if f.status == StatusCode::NOT_FOUND => Err(layout::no_portal()),
        Err(f) => Err(internal("reading a portal's brand", f)),
    }
}

/// The signed-in contact of a portal request, checked by the API on this
/// request: the session is a contact's, and the API accepted a token
/// minted from it (the contact still has portal access, the token version
/// is current) and told who they are. Without one: the portal's sign-in
/// page. A session of another company's portal is not this portal's.
pub struct Portal {
    /// The API, as this contact: every page reads and acts through it.
    pub api: Api,
    pub contact: PortalContact,
    pub company: PortalCompany,
    pub fmt: Fmt,
    pub chrome: Arc<PortalChrome>,
    pub now: DateTime<Utc>,
}

impl Portal {
    /// The session's CSRF field for a form.
    pub fn csrf(&self) -> Markup {
        match &self.chrome.who {
            Some(w) => layout::csrf(w),
            None => html! {},
        }
    }

    /// `/portal/{slug}{rest}`.
    pub fn href(&self, rest: &str) -> String {
        self.chrome.href(rest)
    }

    /// A 200 page of `section`.
    pub fn page(&self, section: layout::PortalSection, title: &str, body: Markup) -> Response {
        self.page_with(StatusCode::OK, Some(section), title, body)
    }

    /// A page with `status` (a form re-rendered with the API's 422, say).
    pub fn page_with(
        &self,
        status: StatusCode,
        section: Option<layout::PortalSection>,
        title: &str,
        body: Markup,
    ) -> Response {
        layout::respond(
            &self.chrome,
            status,
            layout::page(&self.chrome, section, title, body),
        )
    }

    /// A page saying what went wrong, in this portal's frame.
    pub fn problem(&self, status: StatusCode, message: &str) -> Response {
        layout::problem(status, &self.chrome, message, &[])
    }
}

impl FromRequestParts<WebState> for Portal {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &WebState) -> Result<Self, Response> {
        let slug = slug_of(parts.uri.path()).to_owned();
        let to_sign_in = || see_other(&format!("/portal/{slug}/sign-in"));
        let Some(value) = cookie(&parts.headers, COOKIE) else {
            return Err(to_sign_in());
        };
        let session = match web_sessions::find(&s.app.db, &value).await {
            Ok(Some(session)) => session,
            Ok(None) => return Err(to_sign_in_ending_session(&slug)),
            Err(e) => return Err(internal("reading a session", e)),
        };
        let Holder::Contact(contact) = session.holder else {
            return Err(to_sign_in_ending_session(&slug));
        };
        let now = s.app.db.clock.now();
        let token = s
            .app
            .jwt
            .issue_contact(session.tenant, contact, session.token_version, now)
            .map_err(|e| internal("minting a token", e))?;
        let api = Api::with_bearer(s.api.clone(), Forward::from_parts(parts), token);
        let me = match api.get::<PortalMe>("/api/v1/portal/me").await {
            Ok(me) => me,
            Err(f) if f.status == StatusCode::UNAUTHORIZED => {
                return Err(to_sign_in_ending_session(&slug));
            }
            Err(f) => return Err(f.into_response()),
        };
        // Signed in at another company's portal: not here.
        if me.company.portal_slug != slug {
            return Err(to_sign_in());
        }
        let chrome = Arc::new(PortalChrome {
            company: me.company.clone(),
            who: Some(Who {
                contact_name: me.contact.name.clone(),
                client_name: me.contact.client_name.clone(),
                billing: me.contact.billing,
                csrf: s.app.jwt.csrf_token(SESSION_PURPOSE, &value),
            }),
        });
        Ok(Portal {
            api: api.with_frame(Frame::Portal(chrome.clone())),
            fmt: Fmt::from_names(&me.company.locale, &me.company.time_zone),
            contact: me.contact,
            company: me.company,
            chrome,
            now,
        })
    }
}

/// A form body of a signed-in portal page, its CSRF token checked first.
pub struct PortalForm<T>(pub T);

impl<T: DeserializeOwned> FromRequest<WebState> for PortalForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, s: &WebState) -> Result<Self, Response> {
        let session = cookie(req.headers(), COOKIE);
        let fields = form_fields(req, s).await?;
        checked(s, session, SESSION_PURPOSE, fields)
            .map(PortalForm)
            .map_err(IntoResponse::into_response)
    }
}

/// A multipart form of a signed-in portal page (attachments), its CSRF
/// token checked first.
pub struct PortalUpload(pub Upload);

impl FromRequest<WebState> for PortalUpload {
    type Rejection = Response;

    async fn from_request(req: Request, s: &WebState) -> Result<Self, Response> {
        Upload::read(req, s, COOKIE, SESSION_PURPOSE)
            .await
            .map(PortalUpload)
    }
}

/// A sign-in form's body: its CSRF token bound to the browser key.
struct SignInForm<T> {
    fields: T,
    browser_key: String,
    csrf: String,
}

async fn sign_in_form<T: DeserializeOwned>(
    s: &WebState,
    req: Request,
) -> Result<SignInForm<T>, Response> {
    let key = cookie(req.headers(), BROWSER_COOKIE);
    let fields = form_fields(req, s).await?;
    let csrf = fields
        .iter()
        .find(|(k, _)| k == crate::layout::CSRF_FIELD)
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let fields =
        checked(s, key.clone(), LOGIN_PURPOSE, fields).map_err(IntoResponse::into_response)?;
    Ok(SignInForm {
        fields,
        browser_key: key.unwrap_or_default(),
        csrf,
    })
}

/// The portal of `slug` as any visitor sees it, for a page of a request
/// with head `parts`; or the "no portal here" page.
pub(crate) async fn brand_of(
    s: &WebState,
    parts: &Parts,
    slug: &str,
) -> Result<PortalCompany, Response> {
    brand(s, Forward::from_parts(parts), slug).await
}

/// A page of a portal nobody is signed in to.
pub(crate) fn anonymous_page(
    company: &PortalCompany,
    status: StatusCode,
    title: &str,
    body: Markup,
) -> Response {
    let chrome = PortalChrome {
        company: company.clone(),
        who: None,
    };
    layout::respond(&chrome, status, layout::page(&chrome, None, title, body))
}

/// Why the sign-in page is shown, said on it (`?notice=`).
#[derive(Debug, Default, Deserialize)]
pub struct SignInParams {
    #[serde(default)]
    notice: String,
}

fn notice_text(notice: &str) -> Option<&'static str> {
    match notice {
        "signed_out" => Some("You are signed out."),
        "password_changed" => {
            Some("Your password was changed and every session of yours ended: sign in again.")
        }
        _ => None,
    }
}

/// What a sign-in page shows besides its forms.
#[derive(Default)]
struct SignInState<'a> {
    email: &'a str,
    problem: Option<String>,
    notice: Option<&'static str>,
}

fn sign_in_body(company: &PortalCompany, csrf: &str, st: &SignInState<'_>) -> Markup {
    let base = format!("/portal/{}", company.portal_slug);
    html! {
        h1 { "Sign in to " (company.name) }
        @if let Some(n) = st.notice {
            p.notice #notice role="status" { (n) }
        }
        @if let Some(p) = &st.problem {
            p.problem #problem role="alert" { (p) }
        }
        div.grid {
            form.stack method="post" action={ (base) "/sign-in/link" } {
                h2 { "E-mail me a sign-in link" }
                (crate::layout::csrf_field(csrf))
                label for="link-email" { "E-mail" }
                input #link-email name="email" type="email" autocomplete="email" required value=(st.email);
                p.hint.muted { "The link works once, for 15 minutes, in this browser." }
                button type="submit" #send-link { "Send the link" }
            }
            form.stack method="post" action={ (base) "/sign-in/password" } {
                h2 { "Sign in with a password" }
                (crate::layout::csrf_field(csrf))
                label for="email" { "E-mail" }
                input #email name="email" type="email" autocomplete="username" required value=(st.email);
                label for="password" { "Password" }
                input #password name="password" type="password" autocomplete="current-password" required;
                button type="submit" #sign-in { "Sign in" }
            }
        }
    }
}

/// The browser's key (kept, or a new one), with the cookie that keeps a
/// new one.
fn browser_key(headers: &HeaderMap) -> (String, Option<HeaderValue>) {
    match cookie(headers, BROWSER_COOKIE) {
        Some(k) => (k, None),
        None => {
            let k = random_token(32);
            let c = set_cookie(headers, BROWSER_COOKIE, &k, BROWSER_KEY_DAYS * 86_400);
            (k, Some(c))
        }
    }
}

/// A sign-in page (or a page of a link), with its CSRF token bound to the
/// browser key, setting the key when the browser has none.
fn keyed_page(
    s: &WebState,
    headers: &HeaderMap,
    company: &PortalCompany,
    status: StatusCode,
    title: &str,
    body: impl FnOnce(&str) -> Markup,
) -> Response {
    let (key, set) = browser_key(headers);
    let csrf = s.app.jwt.csrf_token(LOGIN_PURPOSE, &key);
    let mut r = anonymous_page(company, status, title, body(&csrf));
    if let Some(c) = set {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    r
}

/// Whether the request carries a live session of this portal's contact
/// (the sign-in pages send them home).
async fn signed_in_here(s: &WebState, headers: &HeaderMap, company: &PortalCompany) -> bool {
    let Some(value) = cookie(headers, COOKIE) else {
        return false;
    };
    let Ok(Some(session)) = web_sessions::find(&s.app.db, &value).await else {
        return false;
    };
    if !matches!(session.holder, Holder::Contact(_)) {
        return false;
    }
    matches!(
        nestogy_domain::portal::company_by_slug(&s.app.db, &company.portal_slug).await,
        Ok(Some(t)) if t == session.tenant
    )
}

/// `GET /portal/{slug}/sign-in`.
pub async fn sign_in_page(
    State(s): State<WebState>,
    Path(slug): Path<String>,
    parts: Parts,
    axum::extract::Query(q): axum::extract::Query<SignInParams>,
) -> Response {
    let company = match brand(&s, Forward::from_parts(&parts), &slug).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if signed_in_here(&s, &parts.headers, &company).await {
        return see_other(&format!("/portal/{slug}/tickets"));
    }
    let st = SignInState {
        notice: notice_text(&q.notice),
        ..Default::default()
    };
    keyed_page(
        &s,
        &parts.headers,
        &company,
        StatusCode::OK,
        "Sign in",
        |csrf| sign_in_body(&company, csrf, &st),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmailField {
    email: String,
}

/// `POST /portal/{slug}/sign-in/link`: asks the API to mail a sign-in link
/// bound to this browser's key; says the same whoever asked.
pub async fn send_link(
    State(s): State<WebState>,
    Path(slug): Path<String>,
    req: Request,
) -> Response {
    let (forward, _, req) = split(req);
    let company = match brand(&s, forward.clone(), &slug).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let form: SignInForm<EmailField> = match sign_in_form(&s, req).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let api = Api::anonymous(s.api.clone(), forward);
    let asked: Result<serde_json::Value, ApiFailure> = api
        .send(
            Method::POST,
            format!("/api/v1/portal/{}/auth/magic-link", company.portal_slug),
            &serde_json::json!({"email": form.fields.email, "browser_key": form.browser_key}),
        )
        .await;
    match asked {
        Ok(_) => {
            let body = html! {
                h1 { "Check your e-mail" }
                p.notice #notice role="status" {
                    "If " strong { (form.fields.email) } " may use this portal, a sign-in link is on its way. "
                    "Open it in this browser within 15 minutes."
                }
                p { a href={ "/portal/" (company.portal_slug) "/sign-in" } { "Back to sign-in" } }
            };
            anonymous_page(&company, StatusCode::OK, "Check your e-mail", body)
        }
        Err(f) if f.status.is_client_error() => sign_in_again(&company, &form, &f),
        Err(f) => internal("asking for a sign-in link", f),
    }
}

/// The sign-in page again, saying why the last attempt failed.
fn sign_in_again<T: HasEmail>(
    company: &PortalCompany,
    form: &SignInForm<T>,
    f: &ApiFailure,
) -> Response {
    let st = SignInState {
        email: form.fields.email(),
        problem: Some(sign_in_problem(f)),
        notice: None,
    };
    let status = if f.status == StatusCode::TOO_MANY_REQUESTS {
        StatusCode::TOO_MANY_REQUESTS
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let mut r = anonymous_page(
        company,
        status,
        "Sign in",
        sign_in_body(company, &form.csrf, &st),
    );
    if let Some(secs) = f.retry_after_secs
        && let Ok(v) = HeaderValue::from_str(&secs.to_string())
    {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

trait HasEmail {
    fn email(&self) -> &str;
}

impl HasEmail for EmailField {
    fn email(&self) -> &str {
        &self.email
    }
}

impl HasEmail for PasswordFields {
    fn email(&self) -> &str {
        &self.email
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordFields {
    email: String,
    password: String,
}

#[derive(Deserialize)]
struct PortalToken {
    access_token: String,
}

/// `POST /portal/{slug}/sign-in/password`.
pub async fn sign_in_password(
    State(s): State<WebState>,
    Path(slug): Path<String>,
    req: Request,
) -> Response {
    let (forward, headers, req) = split(req);
    let company = match brand(&s, forward.clone(), &slug).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let form: SignInForm<PasswordFields> = match sign_in_form(&s, req).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let api = Api::anonymous(s.api.clone(), forward.clone());
    let answer: Result<PortalToken, ApiFailure> = api
        .send(
            Method::POST,
            format!("/api/v1/portal/{}/auth/login", company.portal_slug),
            &serde_json::json!({"email": form.fields.email, "password": form.fields.password}),
        )
        .await;
    match answer {
        Ok(t) => {
            start_session(
                &s,
                &headers,
                &forward,
                &company,
                &t.access_token,
                "/tickets",
            )
            .await
        }
        Err(f) if f.status.is_client_error() => sign_in_again(&company, &form, &f),
        Err(f) => internal("signing a contact in", f),
    }
}

/// What a form's handler needs of the request's head ([`Forward`] and the
/// headers), and the request to read the form from.
fn split(req: Request) -> (Forward, HeaderMap, Request) {
    let (parts, body) = req.into_parts();
    let forward = Forward::from_parts(&parts);
    let headers = parts.headers.clone();
    (forward, headers, Request::from_parts(parts, body))
}

/// Starts a portal session for the contact `access_token` names and goes
/// to `to` (a path under the portal's address).
pub(crate) async fn start_session(
    s: &WebState,
    headers: &HeaderMap,
    forward: &Forward,
    company: &PortalCompany,
    access_token: &str,
    to: &str,
) -> Response {
    let now = s.app.db.clock.now();
    let Some((tenant, contact, version)) = s.app.jwt.verify_contact(access_token, now) else {
        return internal("reading a contact token", "not a token of ours");
    };
    let origin = Origin {
        user_agent: forward.user_agent(),
        client_addr: forward.peer().map(|p| p.ip().to_string()),
    };
    let created = async {
        let mut tx = s.app.db.tenant(tenant).await?;
        let value =
            web_sessions::create(&mut tx, Holder::Contact(contact), version, &origin).await?;
        tx.commit().await?;
        Ok::<_, nestogy_domain::DomainError>(value)
    }
    .await;
    let value = match created {
        Ok(v) => v,
        Err(e) => return internal("creating a portal session", e),
    };
    let mut r = see_other(&format!("/portal/{}{to}", company.portal_slug));
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(headers, COOKIE, &value, ABSOLUTE_TIMEOUT.num_seconds()),
    );
    r
}

/// `GET /portal/{slug}/sign-in/{token}`: the page of a sign-in link, one
/// button that uses it.
pub async fn link_page(
    State(s): State<WebState>,
    Path((slug, token)): Path<(String, String)>,
    parts: Parts,
) -> Response {
    let company = match brand(&s, Forward::from_parts(&parts), &slug).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    keyed_page(
        &s,
        &parts.headers,
        &company,
        StatusCode::OK,
        "Sign in",
        |csrf| {
            html! {
                h1 { "Sign in to " (company.name) }
                form.stack method="post" action={ "/portal/" (company.portal_slug) "/sign-in/" (token) } {
                    (crate::layout::csrf_field(csrf))
                    p { "Continue to sign in with the link from your e-mail." }
                    button type="submit" #use-link { "Sign in" }
                }
            }
        },
    )
}

/// `POST /portal/{slug}/sign-in/{token}`: uses the link with this
/// browser's key.
pub async fn use_link(
    State(s): State<WebState>,
    Path((slug, token)): Path<(String, String)>,
    req: Request,
) -> Response {
    let (forward, headers, req) = split(req);
    let company = match brand(&s, forward.clone(), &slug).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let form: SignInForm<NoFields> = match sign_in_form(&s, req).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let api = Api::anonymous(s.api.clone(), forward.clone());
    let answer: Result<PortalToken, ApiFailure> = api
        .send(
            Method::POST,
            format!(
                "/api/v1/portal/{}/auth/magic-link/consume",
                company.portal_slug
            ),
            &serde_json::json!({"token": token, "browser_key": form.browser_key}),
        )
        .await;
    match answer {
        Ok(t) => {
            start_session(
                &s,
                &headers,
                &forward,
                &company,
                &t.access_token,
                "/tickets",
            )
            .await
        }
        Err(f) if f.status.is_client_error() => {
            let why = match f.code.as_str() {
                "link_expired" => "This sign-in link has expired.",
                "link_used" => "This sign-in link was used already.",
                "link_other_browser" => {
                    "This sign-in link was asked for in another browser: open it there, or ask for a new one here."
                }
                _ => "This sign-in link is not valid.",
            };
            let st = SignInState {
                problem: Some(why.to_owned()),
                ..Default::default()
            };
            anonymous_page(
                &company,
                StatusCode::UNAUTHORIZED,
                "Sign in",
                sign_in_body(&company, &form.csrf, &st),
            )
        }
        Err(f) => internal("using a sign-in link", f),
    }
}

fn invitation_body(
    company: &PortalCompany,
    token: &str,
    csrf: &str,
    problem: Option<&str>,
) -> Markup {
    html! {
        h1 { "Welcome to " (company.name) "'s portal" }
        @if let Some(p) = problem {
            p.problem #problem role="alert" { (p) }
        }
        form.stack method="post" action={ "/portal/" (company.portal_slug) "/invitation/" (token) } {
            (crate::layout::csrf_field(csrf))
            p { "Accept the invitation to follow your tickets and invoices here." }
            label for="password" {
                "Choose a password " span.hint { "(optional: without one, you sign in by links mailed to you)" }
            }
            input #password name="password" type="password" autocomplete="new-password";
            button type="submit" #accept { "Accept the invitation" }
        }
    }
}

/// `GET /portal/{slug}/invitation/{token}`.
pub async fn invitation_page(
    State(s): State<WebState>,
    Path((slug, token)): Path<(String, String)>,
    parts: Parts,
) -> Response {
    let company = match brand(&s, Forward::from_parts(&parts), &slug).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    keyed_page(
        &s,
        &parts.headers,
        &company,
        StatusCode::OK,
        "Accept the invitation",
        |csrf| invitation_body(&company, &token, csrf, None),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InvitationFields {
    #[serde(default)]
    password: String,
}

/// `POST /portal/{slug}/invitation/{token}`: accepts (with the password,
/// if one was chosen) and signs in.
pub async fn accept_invitation(
    State(s): State<WebState>,
    Path((slug, token)): Path<(String, String)>,
    req: Request,
) -> Response {
    let (forward, headers, req) = split(req);
    let company = match brand(&s, forward.clone(), &slug).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let form: SignInForm<InvitationFields> = match sign_in_form(&s, req).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let password = Some(form.fields.password.as_str()).filter(|p| !p.is_empty());
    let api = Api::anonymous(s.api.clone(), forward.clone());
    let answer: Result<PortalToken, ApiFailure> = api
        .send(
            Method::POST,
            format!(
                "/api/v1/portal/{}/auth/accept-invitation",
                company.portal_slug
            ),
            &serde_json::json!({"token": token, "password": password}),
        )
        .await;
    match answer {
        Ok(t) => {
            start_session(
                &s,
                &headers,
                &forward,
                &company,
                &t.access_token,
                "/tickets",
            )
            .await
        }
        Err(f) if f.status.is_client_error() => {
            let why = match (f.status, f.code.as_str()) {
                (StatusCode::UNPROCESSABLE_ENTITY, _) => f
                    .field("password")
                    .map(|m| format!("The password: {m}"))
                    .unwrap_or_else(|| f.message.clone()),
                (_, "link_expired") => {
                    "This invitation has expired: ask your provider for a new one.".to_owned()
                }
                (_, "link_used") => {
                    "This invitation was accepted already: sign in instead.".to_owned()
                }
                _ => "This invitation is not valid.".to_owned(),
            };
            anonymous_page(
                &company,
                f.status,
                "Accept the invitation",
                invitation_body(&company, &token, &form.csrf, Some(&why)),
            )
        }
        Err(f) => internal("accepting an invitation", f),
    }
}

/// `POST /portal/{slug}/sign-out`: ends this session.
pub async fn sign_out(
    Path(slug): Path<String>,
    PortalForm(NoFields {}): PortalForm<NoFields>,
) -> Response {
    let mut r = see_other(&format!("/portal/{slug}/sign-in?notice=signed_out"));
    r.extensions_mut().insert(Ended);
    r
}

/// `POST /portal/{slug}/sign-out-everywhere`: the API's sign-out
/// everywhere (every token and portal session of the contact ends).
pub async fn sign_out_everywhere(
    p: Portal,
    PortalForm(NoFields {}): PortalForm<NoFields>,
) -> Result<Response, ApiFailure> {
    p.api
        .send_empty::<()>(Method::POST, "/api/v1/portal/auth/logout-everywhere")
        .await?;
    let mut r = see_other(&p.href("/sign-in?notice=signed_out"));
    r.extensions_mut().insert(Ended);
    Ok(r)
}

/// `GET /portal/{slug}`: the tickets, or the sign-in page.
pub async fn home(p: Portal) -> Response {
    see_other(&p.href("/tickets"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_come_from_the_path() {
        assert_eq!(slug_of("/portal/acme-it/tickets/1"), "acme-it");
        assert_eq!(slug_of("/portal/acme-it"), "acme-it");
        assert_eq!(slug_of("/console"), "");
    }
}
