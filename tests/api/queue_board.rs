//! The queue dashboard (`/admin/queues`): who may see it, CSRF on its
//! forms, tenancy of what it shows, escaping of hostile payloads, the
//! worker heartbeats it lists, and the whole thing in a real browser
//! (Debian's chromium through chromedriver), with a screenshot kept at
//! `target/test-artifacts/queue-dashboard.png`.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use chrono::Utc;
use nestogy_domain::kernel::roles::Role;
use nestogy_domain::{JobId, TenantId};
use nestogy_jobs::Queue;
use nestogy_jobs::diag::Fail;
use nestogy_jobs::store::{self, NewJob};
use nestogy_jobs::workers_seen;
use serde_json::{Value, json};

use crate::common::{PASSWORD, Response, TestApp, eventually, slug};
use crate::webdriver::Browser;

const LOGIN: &str = "nestogy_admin_login";
const SESSION: &str = "nestogy_admin";
const REFRESH: &str = "nestogy_admin_refresh";

/// Percent-encodes a form value.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn form(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A request to an admin page with `cookies` and, for a POST, a form body.
async fn page(
    app: &TestApp,
    method: Method,
    path: &str,
    cookies: &str,
    body: Option<String>,
) -> Response {
    let mut req = Request::builder().method(method).uri(path);
    if !cookies.is_empty() {
        req = req.header(header::COOKIE, cookies);
    }
    let req = match body {
        Some(b) => req
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(b)),
        None => req.body(Body::empty()),
    }
    .expect("request");
    app.raw(req).await
}

fn html(r: &Response) -> &str {
    r.body
        .as_str()
        .unwrap_or_else(|| panic!("not an HTML page: {}", r.body))
}

/// The value a `Set-Cookie` of the answer gives `name` ("" when it deletes it).
fn set_cookie(r: &Response, name: &str) -> Option<(String, String)> {
    r.headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| {
            let value = v[name.len() + 1..]
                .split(';')
                .next()
                .unwrap_or("")
                .to_owned();
            (value, v.to_owned())
        })
}

/// The CSRF token of the first form on the page.
fn csrf_of(page: &str) -> String {
    let at = page
        .find("name=\"csrf\" value=\"")
        .unwrap_or_else(|| panic!("no CSRF field in {page}"));
    let rest = &page[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').expect("end of value")].to_owned()
}

fn location(r: &Response) -> &str {
    r.headers
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

struct Session {
    cookies: String,
    csrf: String,
}

/// Signs in through the form as `email` (password [`PASSWORD`]).
async fn sign_in_answer(app: &TestApp, email: &str) -> Response {
    let r = page(app, Method::GET, "/admin/login", "", None).await;
    assert_eq!(r.status, StatusCode::OK);
    let (nonce, _) = set_cookie(&r, LOGIN).expect("the sign-in form's cookie");
    let csrf = csrf_of(html(&r));
    page(
        app,
        Method::POST,
        "/admin/login",
        &format!("{LOGIN}={nonce}"),
        Some(form(&[
            ("csrf", &csrf),
            ("email", email),
            ("password", PASSWORD),
            ("totp_code", ""),
        ])),
    )
    .await
}

async fn sign_in(app: &TestApp, email: &str) -> Session {
    let r = sign_in_answer(app, email).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(location(&r), "/admin/queues");
    let (token, flags) = set_cookie(&r, SESSION).expect("session cookie");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/admin"] {
        assert!(flags.contains(flag), "{flag} missing from {flags}");
    }
    let (refresh, _) = set_cookie(&r, REFRESH).expect("refresh cookie");
    let cookies = format!("{SESSION}={token}; {REFRESH}={refresh}");
    let home = page(app, Method::GET, "/admin/queues", &cookies, None).await;
    assert_eq!(home.status, StatusCode::OK, "{}", home.body);
    Session {
        csrf: csrf_of(html(&home)),
        cookies,
    }
}

fn admin_email(company: &str) -> String {
    format!("admin@{}.example", slug(company))
}

/// A job of `tenant` recorded straight in `state` (no Redis entry).
#[allow(clippy::too_many_arguments)]
async fn job(
    app: &TestApp,
    tenant: TenantId,
    kind: &str,
    queue: &str,
    state: &str,
    payload: Value,
    error: Option<&str>,
    finished_ago_secs: Option<i64>,
) -> JobId {
    let now = app.clock_now();
    let id = JobId::new();
    let mut tx = app.db.system().await.unwrap();
    store::insert(
        &mut tx,
        &[NewJob {
            id,
            tenant: Some(tenant),
            kind: kind.to_owned(),
            queue: queue.to_owned(),
            payload,
            max_attempts: 3,
            run_at: now,
            unique_key: None,
        }],
        now,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let at = finished_ago_secs.map(|s| now - chrono::Duration::seconds(s));
    sqlx::query(
        "UPDATE jobs SET state = $2, last_error = $3, \
         attempts = CASE WHEN $2 IN ('dead', 'failed_will_retry', 'succeeded') THEN 3 ELSE 0 END, \
         finished_at = CASE WHEN $2 IN ('dead', 'succeeded') THEN $4 END, \
         updated_at = COALESCE($4, updated_at) WHERE id = $1",
    )
    .bind(id)
    .bind(state)
    .bind(error)
    .bind(at)
    .execute(&app.owner)
    .await
    .unwrap();
    id
}

#[tokio::test]
async fn the_dashboard_is_for_signed_in_admins_only() {
    let app = TestApp::new().await;
    let t = app.tenant("Board Access").await;

    // No cookie: to the sign-in page. The bearer header opens no page.
    let r = page(&app, Method::GET, "/admin/queues", "", None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/admin/login");
    let req = Request::builder()
        .uri("/admin/queues")
        .header(header::AUTHORIZATION, format!("Bearer {}", t.admin));
    let r = app.raw(req.body(Body::empty()).unwrap()).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);

    // A tech: signing in through the form is refused with 403 and no
    // session cookie; a tech's token in the cookie gets 403 too.
    let tech_email = format!("tech-{}@board.example", uuid::Uuid::now_v7().simple());
    let mut tx = app.db.tenant(t.id).await.unwrap();
    nestogy_domain::identity::users::create(
        &mut tx,
        nestogy_domain::identity::users::NewUser {
            email: tech_email.clone(),
            name: "Tech".into(),
            role: Role::Tech,
            password: PASSWORD.into(),
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let r = sign_in_answer(&app, &tech_email).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(set_cookie(&r, SESSION).is_none(), "a tech got a session");
    assert!(html(&r).contains("for admins"));
    let tech = app.user(&t, Role::Tech).await;
    let r = page(
        &app,
        Method::GET,
        "/admin/queues",
        &format!("{SESSION}={tech}"),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(!html(&r).contains("id=\"queues\""), "a tech saw the queues");
    assert!(
        r.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );

    // A wrong password: the form again, 401, no cookie.
    let bad = page(&app, Method::GET, "/admin/login", "", None).await;
    let (nonce, _) = set_cookie(&bad, LOGIN).unwrap();
    let r = page(
        &app,
        Method::POST,
        "/admin/login",
        &format!("{LOGIN}={nonce}"),
        Some(form(&[
            ("csrf", &csrf_of(html(&bad))),
            ("email", &admin_email("Board Access")),
            ("password", "wrong password!"),
        ])),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(set_cookie(&r, SESSION).is_none());
    assert!(html(&r).contains("password is wrong"));

    // The admin signs in and sees the queues.
    let s = sign_in(&app, &admin_email("Board Access")).await;
    let r = page(&app, Method::GET, "/admin/queues", &s.cookies, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(html(&r).contains("id=\"queues\""));
    assert!(html(&r).contains("id=\"queue-default\""));
    assert_eq!(
        r.headers[header::CACHE_CONTROL],
        "no-store",
        "admin pages must not be cached"
    );
    assert!(
        r.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );

    // The cookie authorizes no API call.
    let r = page(&app, Method::GET, "/api/v1/jobs", &s.cookies, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // Checked against the user as they are now: signing out everywhere
    // ends the page session at once.
    let out = app
        .post("/api/v1/auth/logout-everywhere", &t.admin, json!({}))
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT, "{}", out.body);
    let r = page(&app, Method::GET, "/admin/queues", &s.cookies, None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/admin/login");
}

#[tokio::test]
async fn forms_without_the_right_csrf_token_are_refused() {
    let app = TestApp::new().await;
    let t = app.tenant("Board Csrf").await;
    let dead = job(
        &app,
        t.id,
        "diag.fail",
        "default",
        "dead",
        json!({}),
        Some("boom"),
        Some(5),
    )
    .await;
    let s = sign_in(&app, &admin_email("Board Csrf")).await;
    let retry = format!("/admin/queues/jobs/{dead}/retry");

    // A wrong token, or another session's: 403, and the job stays dead.
    // (A second later: a token issued in the same second is the same token.)
    app.clock.advance(chrono::Duration::seconds(1));
    let other = sign_in(&app, &admin_email("Board Csrf")).await;
    assert_ne!(other.csrf, s.csrf, "tokens are per session");
    for token in ["00", "not hex", other.csrf.as_str()] {
        let r = page(
            &app,
            Method::POST,
            &retry,
            &s.cookies,
            Some(form(&[("csrf", token)])),
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "token {token:?}");
        assert_eq!(app.job_state(dead).await.0, "dead");
    }
    // No token at all: 400; still dead.
    let r = page(&app, Method::POST, &retry, &s.cookies, Some(String::new())).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.job_state(dead).await.0, "dead");
    // The sign-in form needs its own token and cookie.
    let r = page(
        &app,
        Method::POST,
        "/admin/login",
        "",
        Some(form(&[
            ("csrf", &s.csrf),
            ("email", &admin_email("Board Csrf")),
            ("password", PASSWORD),
        ])),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(set_cookie(&r, SESSION).is_none());

    // The right token: retried, and the audit log says who.
    let r = page(
        &app,
        Method::POST,
        &retry,
        &s.cookies,
        Some(form(&[("csrf", &s.csrf)])),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(
        location(&r),
        format!("/admin/queues/jobs/{dead}?done=retried")
    );
    assert_eq!(
        app.job_state(dead).await,
        ("queued".into(), 0, Some("boom".into()))
    );
    let audit = app
        .count(&format!(
            "SELECT count(*) FROM audit_log WHERE action = 'job.retried' AND entity_id = '{dead}'"
        ))
        .await;
    assert_eq!(audit, 1);
    // Retrying it again is a conflict, shown as a page.
    let r = page(
        &app,
        Method::POST,
        &retry,
        &s.cookies,
        Some(form(&[("csrf", &s.csrf)])),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(html(&r).contains("only a dead job can be retried"));

    // Cancel a waiting job.
    let waiting = job(
        &app,
        t.id,
        "diag.noop",
        "default",
        "queued",
        json!({}),
        None,
        None,
    )
    .await;
    let cancel = format!("/admin/queues/jobs/{waiting}/cancel");
    let r = page(
        &app,
        Method::POST,
        &cancel,
        &s.cookies,
        Some(form(&[("csrf", "00")])),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(app.job_state(waiting).await.0, "queued");
    let r = page(
        &app,
        Method::POST,
        &cancel,
        &s.cookies,
        Some(form(&[("csrf", &s.csrf)])),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(app.job_state(waiting).await.0, "cancelled");

    // Sign out: refused without the token; with it, the cookies go and
    // the sign-in's refresh token is revoked.
    let r = page(
        &app,
        Method::POST,
        "/admin/logout",
        &s.cookies,
        Some(form(&[("csrf", "00")])),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = page(
        &app,
        Method::POST,
        "/admin/logout",
        &s.cookies,
        Some(form(&[("csrf", &s.csrf)])),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(set_cookie(&r, SESSION).map(|c| c.0).as_deref(), Some(""));
    let refresh = s
        .cookies
        .split("; ")
        .find_map(|c| c.strip_prefix(&format!("{REFRESH}=")))
        .unwrap()
        .to_owned();
    let r = app
        .call(
            Method::POST,
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": refresh})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
}

#[tokio::test]
async fn an_admin_sees_only_their_own_companys_jobs_and_counts() {
    let app = TestApp::new().await;
    let a = app.tenant("Board Mine").await;
    let b = app.tenant("Board Theirs").await;
    let mine = job(
        &app,
        a.id,
        "diag.fail",
        "billing",
        "dead",
        json!({}),
        Some("my error"),
        Some(10),
    )
    .await;
    let mut theirs = Vec::new();
    for _ in 0..7 {
        theirs.push(
            job(
                &app,
                b.id,
                "diag.fail",
                "billing",
                "dead",
                json!({"who": "theirs"}),
                Some("THEIR SECRET ERROR"),
                Some(10),
            )
            .await,
        );
    }
    let their_waiting = job(
        &app,
        b.id,
        "diag.noop",
        "mail",
        "queued",
        json!({}),
        None,
        None,
    )
    .await;
    // A platform job (no tenant) is nobody's to see either.
    let mut tx = app.db.system().await.unwrap();
    let platform = JobId::new();
    store::insert(
        &mut tx,
        &[NewJob {
            id: platform,
            tenant: None,
            kind: "maintenance.vacuum".into(),
            queue: "maintenance".into(),
            payload: json!({}),
            max_attempts: 3,
            run_at: app.clock_now(),
            unique_key: None,
        }],
        app.clock_now(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let s = sign_in(&app, &admin_email("Board Mine")).await;
    let home = page(&app, Method::GET, "/admin/queues", &s.cookies, None).await;
    let text = html(&home);
    assert!(
        text.contains(&mine.to_string()[..8]),
        "my dead job is listed"
    );
    assert!(text.contains("my error"));
    assert!(!text.contains("THEIR SECRET ERROR"));
    for id in &theirs {
        assert!(!text.contains(&id.to_string()));
    }
    // Counts: one dead job (not eight), nothing waiting (not theirs, not the platform's).
    assert!(
        text.contains("id=\"tab-dead\" href=\"/admin/queues/jobs?state=dead\">dead (1)"),
        "{text}"
    );
    assert!(text.contains("id=\"tab-queued\" href=\"/admin/queues/jobs?state=queued\">queued (0)"));
    let row = &text[text.find("id=\"queue-billing\"").unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(row.contains(">1</a>"), "{row}");
    assert!(!row.contains('8') && !row.contains('7'), "{row}");

    let list = page(
        &app,
        Method::GET,
        "/admin/queues/jobs?state=dead",
        &s.cookies,
        None,
    )
    .await;
    assert!(html(&list).contains("1 job in all."), "{}", html(&list));
    assert!(!html(&list).contains("THEIR SECRET ERROR"));

    // Their jobs answer 404, read or acted on; theirs stay as they were.
    for id in theirs.iter().chain([&their_waiting, &platform]) {
        let r = page(
            &app,
            Method::GET,
            &format!("/admin/queues/jobs/{id}"),
            &s.cookies,
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert!(html(&r).contains("job not found"));
    }
    let r = page(
        &app,
        Method::POST,
        &format!("/admin/queues/jobs/{}/retry", theirs[0]),
        &s.cookies,
        Some(form(&[("csrf", &s.csrf)])),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(app.job_state(theirs[0]).await.0, "dead");
    let r = page(
        &app,
        Method::POST,
        &format!("/admin/queues/jobs/{their_waiting}/cancel"),
        &s.cookies,
        Some(form(&[("csrf", &s.csrf)])),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(app.job_state(their_waiting).await.0, "queued");
    // A path that is no job id at all: 404 too.
    let r = page(
        &app,
        Method::GET,
        "/admin/queues/jobs/not-an-id",
        &s.cookies,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn queue_figures_count_states_and_recent_outcomes() {
    let app = TestApp::new().await;
    let t = app.tenant("Board Figures").await;
    let q = "documents";
    for (state, ago) in [
        ("queued", None),
        ("queued", None),
        ("running", None),
        ("failed_will_retry", Some(20)),
        ("dead", Some(30)),
        ("dead", Some(7200)),
        ("succeeded", Some(30)),
        ("succeeded", Some(1800)),
        ("succeeded", Some(7200)),
        ("cancelled", Some(5)),
    ] {
        job(&app, t.id, "diag.noop", q, state, json!({}), None, ago).await;
    }
    let mut tx = app.db.tenant(t.id).await.unwrap();
    let stats = nestogy_domain::platform::jobs::queue_stats(&mut tx)
        .await
        .unwrap();
    tx.end_read();
    let s = stats
        .iter()
        .find(|s| s.queue == q)
        .expect("the queue's figures");
    assert_eq!(
        (
            s.waiting,
            s.delayed,
            s.running,
            s.retrying,
            s.dead,
            s.succeeded,
            s.cancelled
        ),
        (2, 0, 1, 1, 2, 3, 1)
    );
    assert_eq!((s.succeeded_1m, s.succeeded_1h), (1, 2));
    assert_eq!((s.failed_1m, s.failed_1h), (2, 2));
    assert_eq!(stats.len(), 1, "no other queue has jobs");

    // The page shows them in the queue's row.
    let session = sign_in(&app, &admin_email("Board Figures")).await;
    let home = page(&app, Method::GET, "/admin/queues", &session.cookies, None).await;
    let text = html(&home);
    let row = &text[text.find("id=\"queue-documents\"").unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(
        row.contains("1 / 2</td><td class=\"n\">2 / 2</td>"),
        "{row}"
    );
}

#[tokio::test]
async fn hostile_payloads_kinds_and_errors_are_shown_as_text() {
    let app = TestApp::new().await;
    let t = app.tenant("Board Hostile").await;
    let evil = "<script>alert('x')</script>";
    let id = job(
        &app,
        t.id,
        "<b>kind</b>",
        "default",
        "dead",
        json!({"note": evil, "<img src=x onerror=alert(1)>": 1}),
        Some("<img src=x onerror=alert(2)>"),
        Some(3),
    )
    .await;
    sqlx::query("UPDATE jobs SET result = $2 WHERE id = $1")
        .bind(id)
        .bind(json!({"html": "</pre><script>alert(3)</script>"}))
        .execute(&app.owner)
        .await
        .unwrap();
    let s = sign_in(&app, &admin_email("Board Hostile")).await;
    for path in [
        "/admin/queues".to_owned(),
        "/admin/queues/jobs?state=dead".to_owned(),
        format!("/admin/queues/jobs/{id}"),
    ] {
        let r = page(&app, Method::GET, &path, &s.cookies, None).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        let text = html(&r);
        for raw in ["<script", "<img", "<b>kind"] {
            assert!(!text.contains(raw), "{raw} unescaped on {path}");
        }
        assert!(
            text.contains("&lt;img src=x onerror=alert(2)&gt;"),
            "{path}"
        );
        assert!(text.contains("&lt;b&gt;kind&lt;/b&gt;"), "{path}");
    }
    // A query string value is never printed back.
    let r = page(
        &app,
        Method::GET,
        &format!("/admin/queues/jobs/{id}?done=%3Cscript%3E"),
        &s.cookies,
        None,
    )
    .await;
    assert!(!html(&r).contains("<script"));
    let r = page(
        &app,
        Method::GET,
        "/admin/queues/jobs?state=%3Cscript%3E",
        &s.cookies,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(!html(&r).contains("<script"));
}

#[tokio::test]
async fn worker_heartbeats_are_kept_listed_and_forgotten_after_a_day() {
    let app = TestApp::new().await;
    let started = app.clock_now();
    workers_seen::beat(
        &app.db,
        "host-a-1-aaaa",
        &[Queue::Default, Queue::Mail],
        started,
    )
    .await
    .unwrap();
    workers_seen::beat(&app.db, "host-b-2-bbbb", &[Queue::Inbound], started)
        .await
        .unwrap();
    let seen = workers_seen::list(&app.db).await.unwrap();
    assert_eq!(seen.len(), 2);
    let a = seen.iter().find(|w| w.consumer == "host-a-1-aaaa").unwrap();
    assert_eq!(a.queues, vec!["default".to_owned(), "mail".to_owned()]);
    assert_eq!(a.pid as u32, std::process::id());
    assert!(!a.host.is_empty());
    assert_eq!(a.last_heartbeat, started);

    // A later beat moves the heartbeat, not the start.
    app.clock.advance(chrono::Duration::seconds(10));
    workers_seen::beat(&app.db, "host-a-1-aaaa", &[Queue::Default], started)
        .await
        .unwrap();
    let seen = workers_seen::list(&app.db).await.unwrap();
    assert_eq!(seen[0].consumer, "host-a-1-aaaa", "latest heartbeat first");
    assert_eq!(seen[0].last_heartbeat, app.clock_now());
    assert_eq!(seen[0].started_at, started);

    // A day and more later, the silent worker is forgotten by the next beat.
    app.clock
        .advance(chrono::Duration::hours(24) + chrono::Duration::seconds(5));
    assert_eq!(workers_seen::list(&app.db).await.unwrap().len(), 0);
    workers_seen::beat(&app.db, "host-a-1-aaaa", &[Queue::Default], started)
        .await
        .unwrap();
    let seen = workers_seen::list(&app.db).await.unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        app.count("SELECT count(*) FROM worker_heartbeats").await,
        1,
        "the silent worker's row is deleted"
    );

    // Only the workers (a platform transaction) write the table: a
    // tenant's transaction reads it but cannot add, change or delete a row.
    let t = app.tenant("Spoof Co").await;
    let mut tx = app.db.tenant(t.id).await.unwrap();
    let listed: i64 = sqlx::query_scalar("SELECT count(*) FROM worker_heartbeats")
        .fetch_one(tx.conn())
        .await
        .unwrap();
    assert_eq!(listed, 1);
    let changed = sqlx::query("UPDATE worker_heartbeats SET host = 'spoofed'")
        .execute(tx.conn())
        .await
        .unwrap();
    assert_eq!(changed.rows_affected(), 0);
    let deleted = sqlx::query("DELETE FROM worker_heartbeats")
        .execute(tx.conn())
        .await
        .unwrap();
    assert_eq!(deleted.rows_affected(), 0);
    let inserted = sqlx::query(
        "INSERT INTO worker_heartbeats (consumer, host, pid, queues, started_at, last_heartbeat) \
         VALUES ('fake', 'fake', 1, '{}', now(), now())",
    )
    .execute(tx.conn())
    .await;
    assert!(inserted.is_err(), "a tenant inserted a worker row");
}

/// The whole dashboard in Debian's chromium: sign in through the form, see
/// the queues and a dead job (killed by the real worker) with its error,
/// retry it, cancel a waiting job, see a worker's heartbeat; the screenshot
/// is kept at `target/test-artifacts/queue-dashboard.png`.
#[tokio::test]
async fn the_dashboard_works_in_a_real_browser() {
    let app = TestApp::new().await;
    // The worker runs on the system clock: so do the pages here.
    app.clock.set(Utc::now());
    let t = app.tenant("Browser MSP").await;

    // A dead job, killed by the real worker runtime.
    let worker = app.start_worker();
    let dead = nestogy_jobs::enqueue(&app.jobs(), &Fail { tenant: Some(t.id) })
        .await
        .unwrap();
    eventually("the job to die", Duration::from_secs(20), || async {
        app.job_state(dead).await.0 == "dead"
    })
    .await;
    worker.stop().await;
    let waiting = job(
        &app,
        t.id,
        "diag.noop",
        "default",
        "queued",
        json!({"note": "<script>alert('x')</script>"}),
        None,
        None,
    )
    .await;
    workers_seen::beat(
        &app.db,
        "browser-host-4242-cafe",
        &[Queue::Default, Queue::Documents],
        app.clock_now() - chrono::Duration::minutes(5),
    )
    .await
    .unwrap();
    // The pages' "now" after the worker's work.
    app.clock.set(Utc::now());

    // The app on a real port.
    let (base, stop) = crate::common::serve(app.router.clone()).await;

    let b = Browser::start().await;
    // Not signed in: the sign-in page.
    b.goto(&format!("{base}/admin/queues")).await;
    b.wait_for_text("h1", "Sign in").await;
    assert!(b.current_url().await.ends_with("/admin/login"));
    b.type_into("#email", &admin_email("Browser MSP")).await;
    b.type_into("#password", PASSWORD).await;
    b.click("#sign-in").await;

    // The queues, and the dead job with its error.
    b.wait_for_text("h1", "Queues").await;
    let queues = b.text("#queues").await;
    assert!(queues.contains("default"), "{queues}");
    let row = b.text(&format!("#job-{dead}")).await;
    assert!(row.contains("diag.fail"), "{row}");
    assert!(row.contains("diag.fail fails, attempt 3"), "{row}");
    assert!(b.text("#tab-dead").await.contains("dead (1)"));
    assert!(
        b.text("#worker-list")
            .await
            .contains("browser-host-4242-cafe")
    );
    // The artifact: the queues, the dead job with its error, the worker.
    b.keep_screenshot("queue-dashboard.png").await;

    // Its page: retry, and it is queued again.
    b.click(&format!("#job-{dead} a")).await;
    b.wait_for_text("#state", "dead").await;
    assert!(
        b.text("#last-error")
            .await
            .contains("diag.fail fails, attempt 3")
    );
    b.click("#retry").await;
    b.wait_for_text("#notice", "Queued again").await;
    assert_eq!(b.text("#state").await, "queued");
    assert_eq!(b.text("#attempts").await, "0 of 3");
    assert_eq!(app.job_state(dead).await.0, "queued");

    // The waiting job: its hostile payload is text; cancel it.
    b.goto(&format!("{base}/admin/queues/jobs/{waiting}")).await;
    b.wait_for_text("#payload", "<script>alert('x')</script>")
        .await;
    b.click("#cancel").await;
    b.wait_for_text("#notice", "Cancelled").await;
    assert_eq!(b.text("#state").await, "cancelled");
    assert_eq!(app.job_state(waiting).await.0, "cancelled");

    // The worker with its heartbeat, on the overview.
    b.goto(&format!("{base}/admin/queues")).await;
    let workers = b
        .wait_for_text("#worker-list", "browser-host-4242-cafe")
        .await;
    assert!(workers.contains("default, documents"), "{workers}");
    assert!(workers.contains("ago"), "{workers}");
    assert!(b.text("#queues").await.contains("default"));

    // Sign out: back to the sign-in page, and the queues are closed.
    b.click("#sign-out").await;
    b.wait_for_text("h1", "Sign in").await;
    b.goto(&format!("{base}/admin/queues")).await;
    b.wait_for_text("h1", "Sign in").await;

    b.quit().await;
    let _ = stop.send(());
}
