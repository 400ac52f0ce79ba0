//! Console benchmark (issue 22): the staff console's busiest pages for a
//! tenant with 1,000,000 tickets and 10,000 clients.
//!
//! In a fresh database `nestogy_bench_console`: one company (Europe/Berlin,
//! EUR), its admin (signed in through the console's own sign-in form), 5
//! techs, 10,000 clients and 1,000,000 tickets with one message each (the
//! reports benchmark's generator: skewed over clients, so the first client
//! has about 1 % of them), then `VACUUM ANALYZE` as autovacuum would. Then
//! each page is asked for through the real site router (`nestogy_web::app`,
//! in process, `tower::ServiceExt::oneshot`) with the session cookie: one
//! warm-up, then `ROUNDS` (200) times. Printed per page: server time p50,
//! p99 and max (from the request to the last byte of the body, in this
//! process, which runs the API's calls the page makes too) and the page's
//! size before compression.
//!
//! Targets on the 2-core machine: p99 under 20 ms, pages under 100 KB.
//! Then the same figures for each API call the home page makes (it runs
//! them in three concurrent groups) and for the full-text list alone, with
//! the admin's bearer token, to tell where a page's time goes.
//!
//! Run: `make bench-console`, or `cargo bench --bench console`; `REUSE=1`
//! measures again on the database the last run seeded; sizes with
//! `TICKETS=1000000 CLIENTS=10000 ROUNDS=200`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

// `start_workers` and `finish` go unused: no job runs here.
#[allow(dead_code)]
#[path = "support/mod.rs"]
mod support;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode, header};
use nestogy_domain::identity::{company, users};
use support::env_or;
use support::seed::{RANDOM_FN, TICKETS_SQL};
use tower::ServiceExt;

const EMAIL: &str = "admin@console.bench.example";
const PASSWORD: &str = "console bench password 2026";

fn main() {
    support::block_on(run());
}

async fn run() {
    let tickets: i64 = env_or("TICKETS", "1000000").parse().expect("TICKETS");
    let clients: i64 = env_or("CLIENTS", "10000").parse().expect("CLIENTS");
    let rounds: usize = env_or("ROUNDS", "200").parse().expect("ROUNDS");
    // REUSE=1: measure again on the database the last run seeded (its
    // migrations brought up to date), without seeding it again.
    let reuse = env_or("REUSE", "0") == "1";
    let (owner, db) = if reuse {
        support::existing_database("nestogy_bench_console").await
    } else {
        support::fresh_database("nestogy_bench_console").await
    };
    let now = db.clock.now();

    let t0 = Instant::now();
    let mut conn = owner.acquire().await.expect("conn");
    let (c, _) =
        company::create_or_get(&mut conn, "Console Bench MSP", "Europe/Berlin", "EUR", now)
            .await
            .expect("company");
    drop(conn);
    let mut tx = db.tenant(c.id).await.expect("tx");
    let admin = users::upsert_admin(&mut tx, EMAIL, "Admin", PASSWORD.to_owned())
        .await
        .expect("admin");
    tx.commit().await.expect("commit");
    if !reuse {
        seed(&owner, c.id, now, clients, tickets).await;
    }
    let busiest: uuid::Uuid = sqlx::query_scalar(
        "SELECT client_id FROM tickets WHERE company_id = $1 AND client_id IS NOT NULL \
         GROUP BY client_id ORDER BY count(*) DESC LIMIT 1",
    )
    .bind(c.id)
    .fetch_one(&owner)
    .await
    .expect("busiest client");
    let busiest_tickets: i64 =
        sqlx::query_scalar("SELECT count(*) FROM tickets WHERE client_id = $1")
            .bind(busiest)
            .fetch_one(&owner)
            .await
            .expect("count");
    println!(
        "nestogy console benchmark: {tickets} tickets, {clients} clients, one tenant; seeded in {:.1} s; \
         the busiest client has {busiest_tickets} tickets",
        t0.elapsed().as_secs_f64()
    );

    let ctx = support::job_context(db.clone(), "nestogy_bench_console").await;
    let jwt = nestogy_api::JwtKeys::new(
        b"benchmark secret that is long enough for hs256",
        chrono::Duration::minutes(15),
    );
    let state = nestogy_api::AppState::new(ctx, jwt, nestogy_api::middleware::metrics_handle());
    let site = nestogy_web::app(state);
    let cookie = sign_in(&site).await;

    let pages = [
        ("home", "/console".to_owned()),
        ("ticket queue (50 rows)", "/console/tickets".to_owned()),
        (
            "ticket queue, filtered",
            "/console/tickets?status=open&priority=high".to_owned(),
        ),
        (
            "ticket queue, full text",
            "/console/tickets?q=printer".to_owned(),
        ),
        ("clients", "/console/clients".to_owned()),
        (
            "client page (busiest)",
            format!("/console/clients/{busiest}"),
        ),
    ];
    println!(
        "{:<26} {:>9} {:>9} {:>9} {:>9}",
        "page", "p50 ms", "p99 ms", "max ms", "KB"
    );
    let signed_in = Auth::Cookie(cookie);
    for (label, path) in &pages {
        time_page(&site, label, path, &signed_in, rounds).await;
    }

    // The API calls the home page makes, one by one (the page runs them in
    // three concurrent groups), to tell which of them its time is.
    let month = chrono::Datelike::with_day(&now.date_naive(), 1)
        .expect("the first of the month")
        .to_string();
    let token = Auth::Bearer(api_token(&site).await);
    let open = "status=new,open,in_progress,waiting_on_client&limit=5";
    let calls = [
        format!("/api/v1/tickets?{open}&assignee_id={}", admin.id),
        format!("/api/v1/tickets?{open}&sla_state=breached"),
        format!("/api/v1/tickets?{open}&sla_state=warning"),
        format!("/api/v1/tickets?{open}&unassigned=true"),
        "/api/v1/invoices?status=overdue&limit=10".to_owned(),
        format!("/api/v1/reports/finance_summary?from={month}"),
        format!("/api/v1/reports/mrr?from={month}"),
        "/api/v1/billing-runs?limit=1".to_owned(),
        "/api/v1/jobs?state=dead&limit=1".to_owned(),
        "/api/v1/jobs?state=queued&limit=1".to_owned(),
        "/api/v1/tickets?q=printer&limit=50".to_owned(),
    ];
    println!("\nthe home page's API calls, and the full-text list, one by one:");
    for path in &calls {
        let label: String = path
            .trim_start_matches("/api/v1/")
            .chars()
            .take(26)
            .collect();
        time_page(&site, &label, path, &token, rounds).await;
    }
}

/// How a request proves who sends it.
enum Auth {
    Cookie(String),
    Bearer(String),
}

/// Asks for `path` once to warm up, then `rounds` times; prints p50, p99,
/// max and the answer's size.
async fn time_page(site: &axum::Router, label: &str, path: &str, auth: &Auth, rounds: usize) {
    let mut times = Vec::with_capacity(rounds);
    let mut size = 0;
    for round in 0..=rounds {
        let started = Instant::now();
        let (status, body) = get(site, path, auth).await;
        let took = started.elapsed();
        assert_eq!(
            status,
            StatusCode::OK,
            "{path}: {}",
            String::from_utf8_lossy(&body[..body.len().min(600)])
        );
        size = body.len();
        if round > 0 {
            times.push(took);
        }
    }
    times.sort();
    println!(
        "{label:<26} {:>9.2} {:>9.2} {:>9.2} {:>9.1}",
        ms(rank(&times, 0.50)),
        ms(rank(&times, 0.99)),
        ms(*times.last().expect("a round")),
        size as f64 / 1024.0
    );
}

/// The clients, techs, tickets and messages of the benchmark's company,
/// then `VACUUM ANALYZE` as autovacuum would.
async fn seed(
    owner: &sqlx::PgPool,
    company: nestogy_domain::TenantId,
    now: chrono::DateTime<chrono::Utc>,
    clients: i64,
    tickets: i64,
) {
    sqlx::query(RANDOM_FN)
        .execute(owner)
        .await
        .expect("bench_r");
    sqlx::query(
        "INSERT INTO users (id, company_id, email, name, role, password_hash, created_at, updated_at) \
         SELECT gen_random_uuid(), $1, 'tech' || i || '@console.bench.example', 'Tech ' || i, 'tech', \
           'no password: never signs in', $2, $2 FROM generate_series(1, 5) i",
    )
    .bind(company)
    .bind(now)
    .execute(owner)
    .await
    .expect("techs");
    sqlx::query(
        "INSERT INTO clients (id, company_id, name, email, created_at, updated_at) \
         SELECT gen_random_uuid(), $1, 'Client ' || lpad(i::text, 5, '0'), 'billing@client' || i || '.example', $2, $2 \
         FROM generate_series(1, $3::bigint) i",
    )
    .bind(company)
    .bind(now)
    .bind(clients)
    .execute(owner)
    .await
    .expect("clients");
    // In chunks of 100,000, each spread over the two years before now.
    let chunk = 100_000i64;
    let window = chrono::Duration::days(730);
    let mut done = 0i64;
    while done < tickets {
        let n = chunk.min(tickets - done);
        sqlx::query(TICKETS_SQL)
            .bind(company)
            .bind(n)
            .bind(now)
            .bind(done)
            .bind(now - window)
            .bind(window.num_seconds() as f64)
            .bind(0.7f64)
            .bind(done)
            .execute(owner)
            .await
            .expect("tickets");
        done += n;
    }
    for table in ["clients", "users", "tickets", "ticket_messages"] {
        sqlx::query(sqlx::AssertSqlSafe(format!("VACUUM ANALYZE {table}")))
            .execute(owner)
            .await
            .expect("vacuum");
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn rank(v: &[Duration], p: f64) -> Duration {
    let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
    v[i]
}

async fn send(
    site: &axum::Router,
    req: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let mut req = req;
    req.extensions_mut().insert(ConnectInfo(
        "127.0.0.1:40000".parse::<SocketAddr>().expect("address"),
    ));
    let r = site.clone().oneshot(req).await.expect("router");
    let (status, headers) = (r.status(), r.headers().clone());
    let body = axum::body::to_bytes(r.into_body(), usize::MAX)
        .await
        .expect("body");
    (status, headers, body.to_vec())
}

async fn get(site: &axum::Router, path: &str, auth: &Auth) -> (StatusCode, Vec<u8>) {
    let (name, value) = match auth {
        Auth::Cookie(c) => (header::COOKIE, c.clone()),
        Auth::Bearer(t) => (header::AUTHORIZATION, format!("Bearer {t}")),
    };
    let req = Request::builder()
        .uri(path)
        .header(header::HOST, "127.0.0.1")
        .header(name, value)
        .body(Body::empty())
        .expect("request");
    let (status, _, body) = send(site, req).await;
    (status, body)
}

/// The value of cookie `name` set by `headers`.
fn set_cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// Signs the admin in through the console's form; returns the session's
/// `Cookie` header.
async fn sign_in(site: &axum::Router) -> String {
    let req = Request::builder()
        .uri("/console/login")
        .header(header::HOST, "127.0.0.1")
        .body(Body::empty())
        .expect("request");
    let (status, headers, body) = send(site, req).await;
    assert_eq!(status, StatusCode::OK);
    let login = nestogy_web::session::LOGIN_COOKIE;
    let nonce = set_cookie(&headers, login).expect("the sign-in form's cookie");
    let html = String::from_utf8_lossy(&body);
    let key = "name=\"csrf\" value=\"";
    let at = html.find(key).expect("a CSRF field") + key.len();
    let csrf = &html[at..at + html[at..].find('"').expect("end of value")];
    let form = serde_urlencoded::to_string([
        ("csrf", csrf),
        ("email", EMAIL),
        ("password", PASSWORD),
        ("totp_code", ""),
    ])
    .expect("form");
    let req = Request::builder()
        .method(Method::POST)
        .uri("/console/login")
        .header(header::HOST, "127.0.0.1")
        .header(header::COOKIE, format!("{login}={nonce}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form))
        .expect("request");
    let (status, headers, body) = send(site, req).await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "{}",
        String::from_utf8_lossy(&body)
    );
    let session = nestogy_web::session::COOKIE;
    let value = set_cookie(&headers, session).expect("the session cookie");
    format!("{session}={value}")
}

/// An access token for the admin, from the API's own sign-in.
async fn api_token(site: &axum::Router) -> String {
    let body = serde_json::json!({"email": EMAIL, "password": PASSWORD}).to_string();
    let req = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/auth/login")
        .header(header::HOST, "127.0.0.1")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .expect("request");
    let (status, _, body) = send(site, req).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
    v["access_token"].as_str().expect("access_token").to_owned()
}
