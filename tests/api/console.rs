//! The staff console (`/console`, crate nestogy-web) through the whole
//! site's router: sign-in (password, TOTP, lockout), the session cookie and
//! its row, CSRF on every form, sign-out and sign-out everywhere, a user
//! disabled through the API, session timeouts, the home page's blocks by
//! role and tenant, API failures as pages, and the whole thing in Debian's
//! chromium with a screenshot at `target/test-artifacts/console-home.png`.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode, header};
use chrono::Duration;
use nestogy_domain::kernel::secrets::hash_token;
use serde_json::json;
use tower::ServiceExt;

use crate::auth::totp_code;
use crate::common::{PASSWORD, TestApp, slug};
use crate::webdriver::Browser;

const SESSION: &str = "nestogy_console";
const LOGIN: &str = "nestogy_console_login";

/// An answer of the site, body as text.
pub(crate) struct Page {
    pub(crate) status: StatusCode,
    pub(crate) headers: axum::http::HeaderMap,
    pub(crate) html: String,
}

impl Page {
    pub(crate) fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The value and the whole header of the `Set-Cookie` for `name`.
    pub(crate) fn set_cookie(&self, name: &str) -> Option<(String, String)> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(|v| {
                let value = v[name.len() + 1..].split(';').next().unwrap_or("");
                (value.to_owned(), v.to_owned())
            })
    }

    pub(crate) fn title(&self) -> &str {
        let start = self.html.find("<title>").map(|i| i + 7).unwrap_or(0);
        let end = self.html.find("</title>").unwrap_or(start);
        &self.html[start..end]
    }

    /// The CSRF token of the first form on the page.
    pub(crate) fn csrf(&self) -> String {
        self.input_value("csrf")
    }

    /// The value of the first input named `name` on the page.
    pub(crate) fn input_value(&self, name: &str) -> String {
        let key = format!("name=\"{name}\" value=\"");
        let at = self
            .html
            .find(&key)
            .unwrap_or_else(|| panic!("no {name} field in {}", self.html));
        let rest = &self.html[at + key.len()..];
        rest[..rest.find('"').expect("end of value")].to_owned()
    }

    pub(crate) fn has_id(&self, id: &str) -> bool {
        self.html.contains(&format!("id=\"{id}\""))
    }
}

/// A request to the site with `cookies`, from 192.0.2.10 (and for a POST
/// a form body), asking for `host` (none: no Host header).
async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    cookies: &str,
    form: Option<&[(&str, &str)]>,
    host: Option<&str>,
) -> Page {
    let mut req = Request::builder().method(method).uri(path);
    if !cookies.is_empty() {
        req = req.header(header::COOKIE, cookies);
    }
    if let Some(h) = host {
        req = req.header(header::HOST, h);
    }
    let mut req = match form {
        Some(f) => req
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(serde_urlencoded::to_string(f).expect("form"))),
        None => req.body(Body::empty()),
    }
    .expect("request");
    req.extensions_mut().insert(ConnectInfo(
        "192.0.2.10:40000".parse::<SocketAddr>().unwrap(),
    ));
    let r = app.web.clone().oneshot(req).await.expect("infallible");
    let (status, headers) = (r.status(), r.headers().clone());
    let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
        .await
        .expect("body");
    Page {
        status,
        headers,
        html: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

pub(crate) async fn get(app: &TestApp, path: &str, cookies: &str) -> Page {
    call(app, Method::GET, path, cookies, None, None).await
}

pub(crate) async fn post(app: &TestApp, path: &str, cookies: &str, form: &[(&str, &str)]) -> Page {
    call(app, Method::POST, path, cookies, Some(form), None).await
}

/// A `multipart/form-data` POST of `fields` (name, value) and a file
/// (file name, content type, bytes) in part `file_field`, as a browser
/// sends it.
pub(crate) async fn post_file(
    app: &TestApp,
    path: &str,
    cookie: &str,
    fields: &[(&str, &str)],
    file_field: &str,
    file: Option<(&str, &str, &[u8])>,
) -> Page {
    let boundary = "----nestogy-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    if let Some((name, ctype, bytes)) = file {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{file_field}\"; filename=\"{name}\"\r\nContent-Type: {ctype}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let mut req = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::COOKIE, cookie)
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(Body::from(body))
        .expect("request");
    req.extensions_mut().insert(ConnectInfo(
        "192.0.2.10:40000".parse::<SocketAddr>().unwrap(),
    ));
    let r = app.web.clone().oneshot(req).await.expect("infallible");
    let (status, headers) = (r.status(), r.headers().clone());
    let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
        .await
        .expect("body");
    Page {
        status,
        headers,
        html: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// The sign-in form's answer for `email` with `password` and `totp`.
async fn sign_in_answer(app: &TestApp, email: &str, password: &str, totp: &str) -> Page {
    let form = get(app, "/console/login", "").await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.html);
    let (nonce, _) = form.set_cookie(LOGIN).expect("the sign-in form's cookie");
    let csrf = form.csrf();
    post(
        app,
        "/console/login",
        &format!("{LOGIN}={nonce}"),
        &[
            ("csrf", &csrf),
            ("email", email),
            ("password", password),
            ("totp_code", totp),
        ],
    )
    .await
}

/// A signed-in console session.
pub(crate) struct Session {
    /// `nestogy_console=<value>`
    pub(crate) cookie: String,
}

pub(crate) async fn sign_in(app: &TestApp, email: &str) -> Session {
    let r = sign_in_answer(app, email, PASSWORD, "").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    assert_eq!(r.location(), "/console");
    let (value, _) = r.set_cookie(SESSION).expect("the session cookie");
    Session {
        cookie: format!("{SESSION}={value}"),
    }
}

pub(crate) fn admin_email(company: &str) -> String {
    format!("admin@{}.example", slug(company))
}

/// A user of the admin's company with `role`, made through the API.
pub(crate) async fn user(app: &TestApp, admin: &str, role: &str) -> (String, String) {
    let email = format!("{role}-{}@staff.example", uuid::Uuid::now_v7().simple());
    let r = app
        .post(
            "/api/v1/users",
            admin,
            json!({"email": email, "name": format!("Sam {role}"), "role": role, "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    (r.id(), email)
}

/// Turns two-factor sign-in on for the holder of `token` (codes by the
/// app's clock); returns the secret.
pub(crate) async fn enable_totp(app: &TestApp, token: &str) -> String {
    let enroll = app.post("/api/v1/auth/totp/enroll", token, json!({})).await;
    let secret = enroll.body["secret"].as_str().unwrap().to_owned();
    let confirm = app
        .post(
            "/api/v1/auth/totp/confirm",
            token,
            json!({"code": totp_code(&secret, app.clock_now())}),
        )
        .await;
    assert_eq!(confirm.status, StatusCode::NO_CONTENT, "{}", confirm.body);
    secret
}

async fn session_rows(app: &TestApp, user_email: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM web_sessions s JOIN users u ON u.id = s.user_id WHERE u.email = $1",
    )
    .bind(user_email)
    .fetch_one(&app.owner)
    .await
    .unwrap()
}

/// Sign-in through the form: the cookies' flags, the row (a hash, never
/// the value), the sign-in's refresh token revoked, and home with the
/// tenant's own tickets only.
#[tokio::test]
async fn console_sign_in_starts_a_session_and_home_shows_the_tenants_work() {
    let app = TestApp::new().await;
    let t = app.tenant("Console MSP").await;
    let other = app.tenant("Other MSP").await;
    let email = admin_email("Console MSP");

    // Not signed in: the sign-in page.
    let home = get(&app, "/console", "").await;
    assert_eq!(home.status, StatusCode::SEE_OTHER);
    assert_eq!(home.location(), "/console/login");
    let form = call(
        &app,
        Method::GET,
        "/console/login",
        "",
        None,
        Some("localhost:8080"),
    )
    .await;
    assert_eq!(form.status, StatusCode::OK);
    assert_eq!(form.title(), "Sign in · Nestogy");
    let (_, flags) = form.set_cookie(LOGIN).unwrap();
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/console"] {
        assert!(flags.contains(flag), "{flag} missing from {flags}");
    }
    assert!(!flags.contains("Secure"), "loopback: {flags}");
    let csp = form.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(form.html.contains("name=\"viewport\""));

    // Tickets: one mine, one nobody's, and one of another company.
    let mine = app
        .post(
            "/api/v1/tickets",
            &t.admin,
            json!({"subject": "Printer <on fire>", "description": "x", "assignee_id": t.admin_id}),
        )
        .await;
    assert_eq!(mine.status, StatusCode::CREATED, "{}", mine.body);
    let free = app
        .post(
            "/api/v1/tickets",
            &t.admin,
            json!({"subject": "Nobody's mail", "description": "x"}),
        )
        .await;
    assert_eq!(free.status, StatusCode::CREATED, "{}", free.body);
    let theirs = app
        .post(
            "/api/v1/tickets",
            &other.admin,
            json!({"subject": "Secret of Other MSP", "description": "x"}),
        )
        .await;
    assert_eq!(theirs.status, StatusCode::CREATED);

    let refresh_before: (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE revoked_at IS NULL) FROM refresh_tokens",
    )
    .fetch_one(&app.owner)
    .await
    .unwrap();
    let r = sign_in_answer(&app, &email, PASSWORD, "").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    assert_eq!(r.location(), "/console");
    let (value, flags) = r.set_cookie(SESSION).unwrap();
    // No Host header: not loopback, so Secure.
    for flag in [
        "HttpOnly",
        "SameSite=Lax",
        "Path=/console",
        "Secure",
        "Max-Age=604800",
    ] {
        assert!(flags.contains(flag), "{flag} missing from {flags}");
    }
    assert_eq!(value.len(), 43, "32 random bytes, base64url: {value}");
    let (_, gone) = r.set_cookie(LOGIN).expect("the login cookie is dropped");
    assert!(gone.contains("Max-Age=0"));
    // The row holds the hash, and where the sign-in came from.
    let (id, addr): (Vec<u8>, Option<String>) =
        sqlx::query_as("SELECT id, client_addr FROM web_sessions")
            .fetch_one(&app.owner)
            .await
            .unwrap();
    assert_eq!(id, hash_token(&value));
    assert_eq!(addr.as_deref(), Some("192.0.2.10"));
    // Row-level security: a tenant's transaction sees its own sessions
    // only; the lookup by cookie is the platform's.
    let count = "SELECT count(*) FROM web_sessions";
    let mut tx = app.db.tenant(other.id).await.unwrap();
    let seen: i64 = sqlx::query_scalar(count)
        .fetch_one(tx.conn())
        .await
        .unwrap();
    assert_eq!(seen, 0, "another tenant read a session");
    tx.commit().await.unwrap();
    let mut tx = app.db.tenant(t.id).await.unwrap();
    let seen: i64 = sqlx::query_scalar(count)
        .fetch_one(tx.conn())
        .await
        .unwrap();
    assert_eq!(seen, 1);
    tx.commit().await.unwrap();
    // The sign-in's refresh token was issued and revoked at once.
    let refresh_after: (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE revoked_at IS NULL) FROM refresh_tokens",
    )
    .fetch_one(&app.owner)
    .await
    .unwrap();
    assert_eq!(refresh_after, (refresh_before.0 + 1, refresh_before.1));

    let s = Session {
        cookie: format!("{SESSION}={value}"),
    };
    let home = get(&app, "/console", &s.cookie).await;
    assert_eq!(home.status, StatusCode::OK, "{}", home.html);
    assert_eq!(home.title(), "Home · Nestogy");
    assert!(home.html.contains("Console MSP"));
    assert!(home.html.contains("Administrator") || home.html.contains("Admin"));
    let mine_id = mine.id();
    let free_id = free.id();
    assert!(home.has_id("my-tickets"));
    assert!(home.has_id(&format!("ticket-{mine_id}")));
    assert!(home.has_id(&format!("ticket-{free_id}")));
    // Escaped, and nothing of the other company.
    assert!(home.html.contains("Printer &lt;on fire&gt;"));
    assert!(!home.html.contains("<on fire>"));
    assert!(!home.html.contains("Secret of Other MSP"));
    assert!(!home.html.contains(&theirs.id()));
    // Signed in, the sign-in page sends home.
    let again = get(&app, "/console/login", &s.cookie).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    assert_eq!(again.location(), "/console");
    // An unknown console page: the 404 page, not the API's JSON.
    let nope = get(&app, "/console/no-such-page", &s.cookie).await;
    assert_eq!(nope.status, StatusCode::NOT_FOUND);
    assert!(nope.title().starts_with("Not found"), "{}", nope.title());
    // Every other path is still the API.
    let api = app
        .raw(
            Request::get("/api/v1/auth/me")
                .header("authorization", format!("Bearer {}", t.admin))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(api.status, StatusCode::OK);
    let through_web = app
        .web
        .clone()
        .oneshot(
            Request::get("/api/v1/auth/me")
                .header("authorization", format!("Bearer {}", t.admin))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(through_web.status(), StatusCode::OK);
}

/// TOTP: without a code, with a wrong one, with the right one.
#[tokio::test]
async fn sign_in_with_totp() {
    let app = TestApp::new().await;
    let t = app.tenant("Totp Console").await;
    let email = admin_email("Totp Console");
    let secret = enable_totp(&app, &t.admin).await;

    let missing = sign_in_answer(&app, &email, PASSWORD, "").await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert!(
        missing.html.contains("this account needs a TOTP code"),
        "{}",
        missing.html
    );
    assert!(missing.set_cookie(SESSION).is_none());
    // The form comes back with the e-mail kept and a CSRF token.
    assert!(missing.html.contains(&format!("value=\"{email}\"")));
    assert!(!missing.csrf().is_empty());

    let wrong = sign_in_answer(&app, &email, PASSWORD, "000000").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(
        wrong.html.contains("the TOTP code is wrong"),
        "{}",
        wrong.html
    );
    assert!(wrong.set_cookie(SESSION).is_none());

    let code = totp_code(&secret, app.clock_now());
    let spaced = format!("{} {}", &code[..3], &code[3..]);
    let ok = sign_in_answer(&app, &email, PASSWORD, &spaced).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.html);
    let (value, _) = ok.set_cookie(SESSION).unwrap();
    let home = get(&app, "/console", &format!("{SESSION}={value}")).await;
    assert_eq!(home.status, StatusCode::OK);
}

/// The API's lockout, shown as such: 429 with the minutes to wait.
#[tokio::test]
async fn too_many_attempts_lock_the_sign_in_form() {
    let app = TestApp::new().await;
    app.tenant("Locked Console").await;
    let email = admin_email("Locked Console");
    for _ in 0..5 {
        let r = sign_in_answer(&app, &email, "wrong password", "").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(r.html.contains("the e-mail address or password is wrong"));
    }
    let locked = sign_in_answer(&app, &email, PASSWORD, "").await;
    assert_eq!(
        locked.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        locked.html
    );
    assert!(
        locked
            .html
            .contains("too many attempts, try again in 15 minutes"),
        "{}",
        locked.html
    );
    assert!(locked.headers.contains_key(header::RETRY_AFTER));
    assert!(locked.set_cookie(SESSION).is_none());
    // The API counted the browser's address, not the console's.
    let attempts: i32 = sqlx::query_scalar(
        "SELECT attempts FROM sign_in_throttle WHERE scope = 'source' AND key = '192.0.2.10'",
    )
    .fetch_one(&app.owner)
    .await
    .unwrap();
    assert_eq!(attempts, 6);
}

/// Every form carries a token; a POST without the right one is refused
/// with the 403 page and changes nothing.
#[tokio::test]
async fn forms_without_the_right_csrf_token_are_refused() {
    let app = TestApp::new().await;
    app.tenant("Csrf Console").await;
    let email = admin_email("Csrf Console");

    // The sign-in form: its token is bound to its own cookie.
    let form = get(&app, "/console/login", "").await;
    let (nonce, _) = form.set_cookie(LOGIN).unwrap();
    let csrf = form.csrf();
    let no_token = post(
        &app,
        "/console/login",
        &format!("{LOGIN}={nonce}"),
        &[("email", &email), ("password", PASSWORD), ("totp_code", "")],
    )
    .await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    assert!(no_token.html.contains("this form is out of date"));
    // The token of one sign-in form does not go with another's cookie.
    let other_form = get(&app, "/console/login", "").await;
    let (other_nonce, _) = other_form.set_cookie(LOGIN).unwrap();
    let wrong_cookie = post(
        &app,
        "/console/login",
        &format!("{LOGIN}={other_nonce}"),
        &[
            ("csrf", &csrf),
            ("email", &email),
            ("password", PASSWORD),
            ("totp_code", ""),
        ],
    )
    .await;
    assert_eq!(wrong_cookie.status, StatusCode::FORBIDDEN);
    assert_eq!(session_rows(&app, &email).await, 0);

    let s = sign_in(&app, &email).await;
    let home = get(&app, "/console", &s.cookie).await;
    // Each form on the page carries the session's token.
    let forms = home.html.matches("<form").count();
    assert!(forms >= 2, "{}", home.html);
    let token = home.csrf();
    assert_eq!(
        home.html
            .matches(&format!("name=\"csrf\" value=\"{token}\""))
            .count(),
        forms
    );
    for path in ["/console/logout", "/console/logout-everywhere"] {
        let none = post(&app, path, &s.cookie, &[]).await;
        assert_eq!(none.status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(none.title(), "Not allowed · Nestogy");
        let forged = post(&app, path, &s.cookie, &[("csrf", &"ab".repeat(32))]).await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN, "{path}");
        // The sign-in form's token does not do either.
        let form_of_login = post(&app, path, &s.cookie, &[("csrf", &csrf)]).await;
        assert_eq!(form_of_login.status, StatusCode::FORBIDDEN, "{path}");
    }
    // Nothing happened: the session lives.
    assert_eq!(
        get(&app, "/console", &s.cookie).await.status,
        StatusCode::OK
    );
    assert_eq!(session_rows(&app, &email).await, 1);
    // A body that is not a form is refused too.
    let json = call(&app, Method::POST, "/console/logout", &s.cookie, None, None).await;
    assert_eq!(json.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

/// Sign out ends this session; sign out everywhere ends the others (and
/// the user's API tokens).
#[tokio::test]
async fn sign_out_and_sign_out_everywhere() {
    let app = TestApp::new().await;
    let t = app.tenant("Signout Console").await;
    let email = admin_email("Signout Console");
    let a = sign_in(&app, &email).await;
    let b = sign_in(&app, &email).await;
    let c = sign_in(&app, &email).await;
    assert_eq!(session_rows(&app, &email).await, 3);

    let home = get(&app, "/console", &a.cookie).await;
    let out = post(
        &app,
        "/console/logout",
        &a.cookie,
        &[("csrf", &home.csrf())],
    )
    .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER, "{}", out.html);
    assert_eq!(out.location(), "/console/login");
    let (v, flags) = out.set_cookie(SESSION).expect("the cookie is deleted");
    assert_eq!(v, "");
    assert!(flags.contains("Max-Age=0"));
    let after = get(&app, "/console", &a.cookie).await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert_eq!(after.location(), "/console/login");
    assert_eq!(session_rows(&app, &email).await, 2);
    assert_eq!(
        get(&app, "/console", &b.cookie).await.status,
        StatusCode::OK
    );

    let home_b = get(&app, "/console", &b.cookie).await;
    let everywhere = post(
        &app,
        "/console/logout-everywhere",
        &b.cookie,
        &[("csrf", &home_b.csrf())],
    )
    .await;
    assert_eq!(
        everywhere.status,
        StatusCode::SEE_OTHER,
        "{}",
        everywhere.html
    );
    assert_eq!(everywhere.location(), "/console/login");
    assert_eq!(session_rows(&app, &email).await, 0);
    for s in [&b, &c] {
        let r = get(&app, "/console", &s.cookie).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert_eq!(r.location(), "/console/login");
    }
    // The API's tokens of that user ended too.
    assert_eq!(
        app.get("/api/v1/auth/me", &t.admin).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Signing in again works.
    let d = sign_in(&app, &email).await;
    assert_eq!(
        get(&app, "/console", &d.cookie).await.status,
        StatusCode::OK
    );
}

/// A user an admin deactivates through the API is signed out of the
/// console at their next request; a session whose version moved on without
/// its row being deleted ends at the API's 401 too.
#[tokio::test]
async fn a_user_disabled_through_the_api_is_signed_out_at_the_next_request() {
    let app = TestApp::new().await;
    let t = app.tenant("Disable Console").await;
    let (tech_id, tech) = user(&app, &t.admin, "tech").await;
    let s = sign_in(&app, &tech).await;
    assert_eq!(
        get(&app, "/console", &s.cookie).await.status,
        StatusCode::OK
    );

    let off = app
        .delete(&format!("/api/v1/users/{tech_id}"), &t.admin)
        .await;
    assert!(off.status.is_success(), "{}", off.body);
    let r = get(&app, "/console", &s.cookie).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/console/login");
    assert_eq!(session_rows(&app, &tech).await, 0);

    // A row left behind with an old version: the API's 401 ends it.
    let (_, acct) = user(&app, &t.admin, "accountant").await;
    let s = sign_in(&app, &acct).await;
    sqlx::query("UPDATE web_sessions SET token_version = token_version - 1")
        .execute(&app.owner)
        .await
        .unwrap();
    let r = get(&app, "/console", &s.cookie).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/console/login");
    let (v, _) = r.set_cookie(SESSION).expect("the cookie is deleted");
    assert_eq!(v, "");
    assert_eq!(session_rows(&app, &acct).await, 0);
}

/// 12 hours idle or 7 days in all end a session; the vacuum deletes
/// ended rows nobody looks up.
#[tokio::test]
async fn sessions_end_when_idle_or_old() {
    let app = TestApp::new().await;
    app.tenant("Idle Console").await;
    let email = admin_email("Idle Console");
    let idle = sign_in(&app, &email).await;
    let busy = sign_in(&app, &email).await;
    // A third session, never used again.
    sign_in(&app, &email).await;
    // 11 hours: both alive (and seen again).
    let start = app.clock_now();
    app.clock.set(start + Duration::hours(11));
    assert_eq!(
        get(&app, "/console", &busy.cookie).await.status,
        StatusCode::OK
    );
    // 12 hours after the last request: the idle one ends.
    app.clock.set(start + Duration::hours(12));
    let r = get(&app, "/console", &idle.cookie).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        get(&app, "/console", &busy.cookie).await.status,
        StatusCode::OK
    );
    // Used every 11 hours, it still ends 7 days after sign-in.
    let mut at = start + Duration::hours(11);
    while at + Duration::hours(11) < start + Duration::days(7) {
        at += Duration::hours(11);
        app.clock.set(at);
        assert_eq!(
            get(&app, "/console", &busy.cookie).await.status,
            StatusCode::OK,
            "{at}"
        );
    }
    app.clock.set(start + Duration::days(7));
    assert_eq!(
        get(&app, "/console", &busy.cookie).await.status,
        StatusCode::SEE_OTHER
    );
    // The forgotten one is still a row, until the vacuum.
    assert_eq!(session_rows(&app, &email).await, 1);
    let out = app
        .run_job(nestogy_jobs::maintenance::Vacuum {
            keep_hours: 24,
            keep_dead_hours: 24,
        })
        .await
        .unwrap();
    assert_eq!(out["console_sessions_deleted"], 1, "{out}");
    assert_eq!(session_rows(&app, &email).await, 0);
}

/// The home page's blocks follow the role (a block the API refuses is left
/// out) and show the company's money in its locale.
#[tokio::test]
async fn home_blocks_follow_the_role() {
    let app = TestApp::new().await;
    let t = app.tenant("Roles Console").await;
    let admin = admin_email("Roles Console");
    let de = app
        .patch("/api/v1/company", &t.admin, json!({"locale": "de-DE"}))
        .await;
    assert_eq!(de.status, StatusCode::OK, "{}", de.body);
    let client = app.client(&t.admin, "Overdue Client").await;
    let invoice = app.open_invoice(&t.admin, &client, "Support").await;
    let (_, tech) = user(&app, &t.admin, "tech").await;
    let (_, accountant) = user(&app, &t.admin, "accountant").await;
    // Sixty days on, it is overdue.
    app.clock.set(app.clock_now() + Duration::days(60));
    let mut tx = app.db.tenant(t.id).await.unwrap();
    let today = nestogy_domain::identity::company::today(&mut tx)
        .await
        .unwrap();
    nestogy_domain::billing::invoices::mark_overdue(&mut tx, today)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let a = sign_in(&app, &admin).await;
    let home = get(&app, "/console", &a.cookie).await;
    assert_eq!(home.status, StatusCode::OK, "{}", home.html);
    for id in [
        "nav-finance",
        "my-tickets",
        "unassigned",
        "overdue-invoices",
        "this-month",
        "last-billing-run",
        "queue-health",
        &format!("invoice-{invoice}"),
    ] {
        assert!(home.has_id(id), "admin: {id} missing");
    }
    // 3 × 120.50 in de-DE.
    assert!(home.html.contains("361,50\u{a0}€"), "{}", home.html);
    assert!(home.html.contains("href=\"/admin/queues\""));

    let s = sign_in(&app, &tech).await;
    let home = get(&app, "/console", &s.cookie).await;
    assert_eq!(home.status, StatusCode::OK, "{}", home.html);
    assert!(home.has_id("my-tickets") && home.has_id("unassigned"));
    for id in [
        "nav-finance",
        "overdue-invoices",
        "this-month",
        "last-billing-run",
        "queue-health",
    ] {
        assert!(!home.has_id(id), "tech: {id} shown");
    }
    assert!(!home.html.contains("/console/invoices"));
    assert!(!home.html.contains("361,50"));

    let s = sign_in(&app, &accountant).await;
    let home = get(&app, "/console", &s.cookie).await;
    assert_eq!(home.status, StatusCode::OK, "{}", home.html);
    for id in [
        "nav-finance",
        "overdue-invoices",
        "this-month",
        "last-billing-run",
    ] {
        assert!(home.has_id(id), "accountant: {id} missing");
    }
    for id in ["my-tickets", "unassigned", "queue-health"] {
        assert!(!home.has_id(id), "accountant: {id} shown");
    }
}

/// What a page shows when the API refuses: another tenant's id is the 404
/// page, a permission the role lacks the 403 page, invalid input its
/// fields, and a 401 the sign-in page that ends the session.
#[tokio::test]
async fn api_failures_become_pages() {
    use axum::response::IntoResponse;
    use nestogy_web::api_client::{Api, Forward};

    let app = TestApp::new().await;
    let t = app.tenant("Failure Console").await;
    let other = app.tenant("Failure Other").await;
    let theirs = app
        .post(
            "/api/v1/tickets",
            &other.admin,
            json!({"subject": "Theirs", "description": "x"}),
        )
        .await
        .id();
    let tech = app
        .user(&t, nestogy_domain::kernel::roles::Role::Tech)
        .await;

    let as_user =
        |token: &str| Api::with_bearer(app.router.clone(), Forward::default(), token.into());
    let page = |f: nestogy_web::ApiFailure| async move {
        let r = f.into_response();
        let status = r.status();
        let location = r
            .headers()
            .get(header::LOCATION)
            .map(|v| v.to_str().unwrap().to_owned());
        let ended = r
            .extensions()
            .get::<nestogy_web::session::Ended>()
            .is_some();
        let html = String::from_utf8(
            axum::body::to_bytes(r.into_body(), usize::MAX)
                .await
                .unwrap()
                .to_vec(),
        )
        .unwrap();
        (status, location, ended, html)
    };

    let f = as_user(&t.admin)
        .get::<serde_json::Value>(&format!("/api/v1/tickets/{theirs}"))
        .await
        .unwrap_err();
    assert_eq!(f.status, StatusCode::NOT_FOUND);
    let (status, _, _, html) = page(f).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        html.contains("<title>Not found · Nestogy</title>"),
        "{html}"
    );
    assert!(!html.contains("Theirs"));

    let f = as_user(&tech)
        .get::<serde_json::Value>("/api/v1/invoices")
        .await
        .unwrap_err();
    let (status, _, _, html) = page(f).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        html.contains("<title>Not allowed · Nestogy</title>"),
        "{html}"
    );
    assert!(html.contains("billing:read"), "{html}");
    // ... and a block the role may not read is simply absent.
    assert!(
        as_user(&tech)
            .get_optional::<serde_json::Value>("/api/v1/invoices")
            .await
            .unwrap()
            .is_none()
    );

    let f = as_user(&t.admin)
        .send::<serde_json::Value>(
            Method::POST,
            "/api/v1/users",
            &json!({"email": "not an address", "name": "", "role": "tech", "password": "x"}),
        )
        .await
        .unwrap_err();
    assert!(f.is_validation());
    assert!(f.field("email").is_some(), "{f:?}");
    let (status, _, _, html) = page(f).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("id=\"field-problems\""), "{html}");

    let f = as_user("not a token")
        .get::<serde_json::Value>("/api/v1/auth/me")
        .await
        .unwrap_err();
    let (status, location, ended, _) = page(f).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/console/login"));
    assert!(ended);
}

/// The console in Debian's chromium: sign in with TOTP, land on home, a
/// screenshot at `target/test-artifacts/console-home.png`, sign out.
#[tokio::test]
async fn the_console_works_in_a_real_browser() {
    let app = TestApp::new().await;
    // TOTP codes are checked against the clock: the real one here.
    app.clock.set(chrono::Utc::now());
    let t = app.tenant("Browser Console").await;
    let email = admin_email("Browser Console");
    let secret = enable_totp(&app, &t.admin).await;
    for subject in ["Mail server down", "New laptop for Ann"] {
        let r = app
            .post(
                "/api/v1/tickets",
                &t.admin,
                json!({"subject": subject, "description": "x", "assignee_id": t.admin_id, "priority": "high"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let client = app.client(&t.admin, "Browser Client").await;
    app.open_invoice(&t.admin, &client, "Support").await;

    let (base, stop) = crate::common::serve(app.web.clone()).await;

    let b = Browser::start().await;
    b.goto(&format!("{base}/console")).await;
    b.wait_for_text("h1", "Sign in").await;
    assert!(b.current_url().await.ends_with("/console/login"));
    b.type_into("#email", &email).await;
    b.type_into("#password", PASSWORD).await;
    b.type_into("#totp_code", &totp_code(&secret, app.clock_now()))
        .await;
    b.click("#sign-in").await;

    b.wait_for_text("h1", "Home").await;
    assert!(b.current_url().await.ends_with("/console"));
    assert!(b.text("#company").await.contains("Browser Console"));
    let mine = b.text("#my-tickets").await;
    assert!(mine.contains("Mail server down"), "{mine}");
    assert!(mine.contains("New laptop for Ann"), "{mine}");
    assert!(
        b.text("#last-billing-run")
            .await
            .contains("No billing run yet")
    );
    b.keep_screenshot("console-home.png").await;

    b.click("#sign-out").await;
    b.wait_for_text("h1", "Sign in").await;
    b.goto(&format!("{base}/console")).await;
    b.wait_for_text("h1", "Sign in").await;
    assert_eq!(session_rows(&app, &email).await, 0);

    b.quit().await;
    let _ = stop.send(());
}
