//! Reports on hand-built data, each right answer worked out by hand here:
//! ageing at the bucket edges, monthly finance figures with running
//! balances, MRR movements, ticket volumes across a time-zone month
//! boundary, percentiles by nearest rank, SLA compliance; recomputing twice
//! gives the same rows, and an incremental run gives what a full one does.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use chrono::{TimeZone, Utc};
use nestogy_domain::TenantId;
use nestogy_domain::kernel::roles::Role;
use nestogy_domain::reports::ReportName;
use nestogy_jobs::reports::{Aggregate, Management};
use serde_json::{Value, json};

use crate::common::{Tenant, TestApp, eventually, field_code, pdf_text};

/// Today is 2026-11-15 in Berlin.
fn set_today(app: &TestApp) {
    app.clock
        .set(Utc.with_ymd_and_hms(2026, 11, 15, 10, 0, 0).unwrap());
}

async fn aggregate(app: &TestApp, t: &Tenant) -> Value {
    app.run_job(Aggregate {
        tenant: t.id,
        report: None,
        full: false,
    })
    .await
    .expect("aggregate")
}

async fn aggregate_full(app: &TestApp, t: &Tenant) -> Value {
    app.run_job(Aggregate {
        tenant: t.id,
        report: None,
        full: true,
    })
    .await
    .expect("aggregate")
}

/// A finalized invoice of one line; returns its id.
async fn invoice(
    app: &TestApp,
    t: &Tenant,
    client: &str,
    amount: &str,
    issue: &str,
    due: &str,
) -> String {
    let r = app
        .post(
            "/api/v1/invoices",
            &t.admin,
            json!({"client_id": client, "issue_date": issue, "due_date": due,
                   "lines": [{"description": "Work", "quantity": "1", "unit_price": amount}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.id();
    let f = app
        .post(
            &format!("/api/v1/invoices/{id}/finalize"),
            &t.admin,
            json!({}),
        )
        .await;
    assert_eq!(f.status, StatusCode::OK, "{}", f.body);
    id
}

async fn pay(app: &TestApp, t: &Tenant, invoice: &str, amount: &str, on: &str) {
    let r = app
        .post(
            &format!("/api/v1/invoices/{invoice}/payments"),
            &t.admin,
            json!({"amount": amount, "method": "bank_transfer", "paid_on": on}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
}

async fn report(app: &TestApp, token: &str, path: &str) -> Value {
    let r = app.get(path, token).await;
    assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
    r.body
}

/// The rows of `name` as (period, the row).
fn rows(body: &Value) -> Vec<Value> {
    body["rows"].as_array().cloned().unwrap_or_default()
}

fn row_for<'a>(rows: &'a [Value], period: &str, key: &str, value: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["period"] == period && r[key] == value)
        .unwrap_or_else(|| panic!("no row for {period} with {key} = {value} in {rows:?}"))
}

/// What an aggregation did for one report.
fn run_of(summary: &Value, report: &str) -> Value {
    summary["reports"]
        .as_array()
        .expect("reports")
        .iter()
        .find(|r| r["report"] == report)
        .unwrap_or_else(|| panic!("no {report} in {summary}"))
        .clone()
}

/// Every stored row of the tenant, to compare runs.
async fn snapshot(app: &TestApp, t: &Tenant) -> Vec<(String, String, String, Value)> {
    sqlx::query_as(
        "SELECT report, period::text, key, data FROM report_rows WHERE company_id = $1 \
         ORDER BY report, period, key",
    )
    .bind(t.id)
    .fetch_all(&app.owner)
    .await
    .expect("rows")
}

#[tokio::test]
async fn ageing_buckets_at_their_edges() {
    let app = TestApp::new().await;
    set_today(&app);
    let t = app.tenant("Ageing MSP").await;
    let a = app.client(&t.admin, "Client A").await;
    let b = app.client(&t.admin, "Client B").await;
    // Today is 2026-11-15. Days past due → bucket:
    //   0 (due today) and −5 (not yet due) → current: 1 + 2 = 3
    //   1 and 30 → 1–30: 4 + 8 = 12
    //   31 and 60 → 31–60: 16 + 32 = 48
    //   61 and 90 → 61–90: 64 + 128 = 192
    //   91 → over 90: 256
    for (amount, due) in [
        ("1.00", "2026-11-15"),
        ("2.00", "2026-11-20"),
        ("4.00", "2026-11-14"),
        ("8.00", "2026-10-16"),
        ("16.00", "2026-10-15"),
        ("32.00", "2026-09-16"),
        ("64.00", "2026-09-15"),
        ("128.00", "2026-08-17"),
        ("256.00", "2026-08-16"),
    ] {
        invoice(&app, &t, &a, amount, "2026-08-01", due).await;
    }
    // 1000 due yesterday with 400 paid: 600 more in 1–30.
    let part = invoice(&app, &t, &a, "1000.00", "2026-11-01", "2026-11-14").await;
    pay(&app, &t, &part, "400.00", "2026-11-10").await;
    // Paid in full, voided and draft invoices owe nothing.
    let paid = invoice(&app, &t, &a, "70.00", "2026-08-01", "2026-08-16").await;
    pay(&app, &t, &paid, "70.00", "2026-08-20").await;
    let void = invoice(&app, &t, &a, "90.00", "2026-08-01", "2026-08-16").await;
    let v = app
        .post(
            &format!("/api/v1/invoices/{void}/void"),
            &t.admin,
            json!({}),
        )
        .await;
    assert_eq!(v.status, StatusCode::OK, "{}", v.body);
    let d = app
        .post(
            "/api/v1/invoices",
            &t.admin,
            json!({"client_id": a, "due_date": "2026-08-16", "issue_date": "2026-08-01",
                   "lines": [{"description": "Draft", "quantity": "1", "unit_price": "5000"}]}),
        )
        .await;
    assert_eq!(d.status, StatusCode::CREATED);
    invoice(&app, &t, &b, "50.00", "2026-10-01", "2026-11-01").await;

    let before = report(&app, &t.admin, "/api/v1/reports/ar_ageing").await;
    assert!(before["computed_at"].is_null(), "{before}");
    assert!(rows(&before).is_empty());

    aggregate(&app, &t).await;
    let body = report(&app, &t.admin, "/api/v1/reports/ar_ageing").await;
    assert_eq!(body["as_of"], "2026-11-15");
    assert!(body["computed_at"].is_string());
    let all = rows(&body);
    assert_eq!(all.len(), 2, "{all:?}");
    let ra = row_for(&all, "2026-11-15", "client_name", "Client A");
    assert_eq!(ra["currency"], "EUR");
    assert_eq!(ra["current"], "3.00");
    assert_eq!(ra["days_1_30"], "612.00");
    assert_eq!(ra["days_31_60"], "48.00");
    assert_eq!(ra["days_61_90"], "192.00");
    assert_eq!(ra["days_over_90"], "256.00");
    assert_eq!(ra["total"], "1111.00");
    let rb = row_for(&all, "2026-11-15", "client_name", "Client B");
    assert_eq!(rb["days_1_30"], "50.00");
    assert_eq!(rb["total"], "50.00");

    // One client's row only.
    let only_b = report(
        &app,
        &t.admin,
        &format!("/api/v1/reports/ar_ageing?client_id={b}"),
    )
    .await;
    assert_eq!(rows(&only_b).len(), 1);
    assert_eq!(rows(&only_b)[0]["client_id"], b.as_str());

    // The same as CSV.
    let req = Request::builder()
        .method(Method::GET)
        .uri("/api/v1/reports/ar_ageing")
        .header("authorization", format!("Bearer {}", t.admin))
        .header("accept", "text/csv;q=0.9, application/json;q=0.5")
        .body(Body::empty())
        .unwrap();
    let csv = app.raw(req).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(
        csv.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = csv.body.as_str().expect("csv text").to_owned();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(
            "period,client_id,client_name,currency,current,days_1_30,days_31_60,days_61_90,days_over_90,total"
        )
    );
    let a_line = format!("2026-11-15,{a},Client A,EUR,3.00,612.00,48.00,192.00,256.00,1111.00");
    assert!(text.lines().any(|l| l == a_line), "{text}");
}

#[tokio::test]
async fn finance_by_month_with_running_balances_and_incremental_runs() {
    let app = TestApp::new().await;
    set_today(&app);
    let t = app.tenant("Finance MSP").await;
    let c = app.client(&t.admin, "Money Client").await;
    // September: 100 invoiced, paid in October.
    let i1 = invoice(&app, &t, &c, "100.00", "2026-09-10", "2026-09-30").await;
    pay(&app, &t, &i1, "100.00", "2026-10-05").await;
    // October: 200 invoiced; 250 paid on it, so 50 becomes credit.
    let i2 = invoice(&app, &t, &c, "200.00", "2026-10-01", "2026-10-31").await;
    pay(&app, &t, &i2, "250.00", "2026-10-20").await;
    // A voided invoice counts nowhere.
    let v = invoice(&app, &t, &c, "999.00", "2026-10-02", "2026-10-31").await;
    app.post(&format!("/api/v1/invoices/{v}/void"), &t.admin, json!({}))
        .await;
    // November: 300 invoiced; the 50 of credit applied (today) and 100 paid.
    let i3 = invoice(&app, &t, &c, "300.00", "2026-11-02", "2026-12-02").await;
    let ac = app
        .post(
            &format!("/api/v1/invoices/{i3}/apply-credit"),
            &t.admin,
            json!({}),
        )
        .await;
    assert!(ac.status.is_success(), "{}", ac.body);
    pay(&app, &t, &i3, "100.00", "2026-11-10").await;

    let first = aggregate(&app, &t).await;
    let fs = run_of(&first, "finance_summary");
    assert_eq!(fs["mode"], "full", "never computed before: {first}");

    let body = report(&app, &t.admin, "/api/v1/reports/finance_summary").await;
    let all = rows(&body);
    // Month:     invoiced  collected  outstanding (running)      credit (running)
    // September  100       0          100                        0
    // October    200       350        100 + 200 − 300 = 0        50
    // November   300       100        0 + 300 − (50 + 100) = 150 0
    let expect = [
        ("2026-09-01", "100.00", "0.00", "100.00", "0.00"),
        ("2026-10-01", "200.00", "350.00", "0.00", "50.00"),
        ("2026-11-01", "300.00", "100.00", "150.00", "0.00"),
    ];
    assert_eq!(all.len(), 3, "{all:?}");
    for (month, invoiced, collected, outstanding, credit) in expect {
        let r = row_for(&all, month, "currency", "EUR");
        assert_eq!(r["invoiced"], invoiced, "{month}");
        assert_eq!(r["collected"], collected, "{month}");
        assert_eq!(r["outstanding"], outstanding, "{month}");
        assert_eq!(r["credit"], credit, "{month}");
    }
    let inv3 = app.get(&format!("/api/v1/invoices/{i3}"), &t.admin).await;
    assert_eq!(
        inv3.body["balance"], "150.00",
        "outstanding is what is owed"
    );

    let rev = report(&app, &t.admin, "/api/v1/reports/revenue_by_client").await;
    let r = row_for(&rows(&rev), "2026-10-01", "client_name", "Money Client").clone();
    assert_eq!(r["revenue"], "200.00");
    assert_eq!(r["invoices"], 1);
    let prod = report(&app, &t.admin, "/api/v1/reports/revenue_by_product").await;
    let r = row_for(&rows(&prod), "2026-11-01", "product_name", "(no product)").clone();
    assert_eq!(r["revenue"], "300.00");

    // Twice gives the same rows.
    let once = snapshot(&app, &t).await;
    aggregate_full(&app, &t).await;
    assert_eq!(once, snapshot(&app, &t).await);

    // A payment in November: an incremental run recomputes November only,
    // and gives what a full run gives.
    pay(&app, &t, &i3, "150.00", "2026-11-14").await;
    let inc = aggregate(&app, &t).await;
    let fs = run_of(&inc, "finance_summary");
    assert_eq!(fs["mode"], "incremental");
    assert_eq!(fs["periods"], 1, "only November: {inc}");
    let body = report(&app, &t.admin, "/api/v1/reports/finance_summary").await;
    let nov = row_for(&rows(&body), "2026-11-01", "currency", "EUR").clone();
    assert_eq!(nov["collected"], "250.00");
    assert_eq!(nov["outstanding"], "0.00");
    let incremental = snapshot(&app, &t).await;
    aggregate_full(&app, &t).await;
    assert_eq!(incremental, snapshot(&app, &t).await);

    // Paying an invoice of September today changes November's figures
    // only: its month of issue is not recomputed.
    let i4 = invoice(&app, &t, &c, "80.00", "2026-09-20", "2026-10-20").await;
    aggregate(&app, &t).await;
    pay(&app, &t, &i4, "80.00", "2026-11-15").await;
    let inc = aggregate(&app, &t).await;
    let fs = run_of(&inc, "finance_summary");
    assert_eq!(fs["periods"], 1, "November only: {inc}");
    let body = report(&app, &t.admin, "/api/v1/reports/finance_summary").await;
    let sep = row_for(&rows(&body), "2026-09-01", "currency", "EUR").clone();
    assert_eq!(
        (sep["invoiced"].clone(), sep["outstanding"].clone()),
        (json!("180.00"), json!("180.00"))
    );
    let nov = row_for(&rows(&body), "2026-11-01", "currency", "EUR").clone();
    assert_eq!(
        (nov["collected"].clone(), nov["outstanding"].clone()),
        (json!("330.00"), json!("0.00"))
    );
    let paid_once = snapshot(&app, &t).await;
    aggregate_full(&app, &t).await;
    assert_eq!(paid_once, snapshot(&app, &t).await);

    // Nothing changed: a run recomputes no finance month.
    let idle = aggregate(&app, &t).await;
    let fs = run_of(&idle, "finance_summary");
    assert_eq!(fs["periods"], 0, "{idle}");
}

async fn template(app: &TestApp, t: &Tenant, client: &str, body: Value) -> String {
    let mut body = body;
    body["client_id"] = json!(client);
    body["name"] = json!("Managed services");
    let r = app.post("/api/v1/recurring-invoices", &t.admin, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.id()
}

fn monthly(price: &str, start: &str) -> Value {
    json!({"frequency": {"unit": "months", "every": 1}, "start_date": start,
           "lines": [{"description": "Plan", "quantity": "1", "unit_price": price}]})
}

#[tokio::test]
async fn mrr_with_new_expansion_contraction_and_churn() {
    let app = TestApp::new().await;
    set_today(&app);
    let t = app.tenant("MRR MSP").await;
    let a = app.client(&t.admin, "A").await;
    let b = app.client(&t.admin, "B").await;
    let c = app.client(&t.admin, "C").await;
    let d = app.client(&t.admin, "D").await;
    let e = app.client(&t.admin, "E").await;
    let f = app.client(&t.admin, "F").await;
    template(&app, &t, &a, monthly("100.00", "2026-08-01")).await;
    // A second plan for A from October: expansion.
    template(&app, &t, &a, monthly("50.00", "2026-10-01")).await;
    // Yearly 1200 from 15 September: 100 a month from September.
    template(
        &app,
        &t,
        &b,
        json!({"frequency": {"unit": "years", "every": 1}, "start_date": "2026-09-15",
               "lines": [{"description": "Plan", "quantity": "1", "unit_price": "1200.00"}]}),
    )
    .await;
    // C ends after September: churn in October.
    let mut cm = monthly("40.00", "2026-08-01");
    cm["end_date"] = json!("2026-09-30");
    template(&app, &t, &c, cm).await;
    // D drops a 30 add-on whose last period starts 1 October: contraction
    // in November.
    template(&app, &t, &d, monthly("80.00", "2026-08-01")).await;
    let mut dm = monthly("30.00", "2026-08-01");
    dm["end_date"] = json!("2026-10-15");
    template(&app, &t, &d, dm).await;
    // Weekly 10 from 1 September: 10 × 52 ÷ 12 = 43.33 a month.
    template(
        &app,
        &t,
        &e,
        json!({"frequency": {"unit": "weeks", "every": 1}, "start_date": "2026-09-01",
               "lines": [{"description": "Plan", "quantity": "1", "unit_price": "10.00"}]}),
    )
    .await;
    // F is paused today: churn in November.
    let fid = template(&app, &t, &f, monthly("60.00", "2026-08-01")).await;
    let p = app
        .post(
            &format!("/api/v1/recurring-invoices/{fid}/pause"),
            &t.admin,
            json!({}),
        )
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);

    aggregate(&app, &t).await;
    let body = report(
        &app,
        &t.admin,
        "/api/v1/reports/mrr?from=2026-08-01&to=2026-11-30",
    )
    .await;
    let all = rows(&body);
    // Month  clients' MRR                                   MRR     new     exp  contr churn customers
    // Aug    A100 C40 D110 F60                              310.00  310.00  0    0     0     4
    // Sep    + B100, E43.33                                 453.33  143.33  0    0     0     6
    // Oct    A150 (+50), C gone (−40)                       463.33  0       50   0     40    5
    // Nov    D80 (−30), F paused (−60)                      373.33  0       0    30    60    4
    let expect = [
        ("2026-08-01", "310.00", "310.00", "0.00", "0.00", "0.00", 4),
        ("2026-09-01", "453.33", "143.33", "0.00", "0.00", "0.00", 6),
        ("2026-10-01", "463.33", "0.00", "50.00", "0.00", "40.00", 5),
        ("2026-11-01", "373.33", "0.00", "0.00", "30.00", "60.00", 4),
    ];
    assert_eq!(all.len(), 4, "{all:?}");
    for (month, mrr, new, expansion, contraction, churn, customers) in expect {
        let r = row_for(&all, month, "currency", "EUR");
        assert_eq!(r["mrr"], mrr, "{month}");
        assert_eq!(r["new"], new, "{month}");
        assert_eq!(r["expansion"], expansion, "{month}");
        assert_eq!(r["contraction"], contraction, "{month}");
        assert_eq!(r["churn"], churn, "{month}");
        assert_eq!(r["customers"], customers, "{month}");
    }
    assert_eq!(
        row_for(&all, "2026-11-01", "currency", "EUR")["arr"],
        "4479.96"
    );

    // Nothing changed: only this month is recomputed, to the same rows.
    let idle = aggregate(&app, &t).await;
    let m = run_of(&idle, "mrr");
    assert_eq!(
        (m["mode"].clone(), m["periods"].clone()),
        (json!("incremental"), json!(1)),
        "{idle}"
    );
    let recent = snapshot(&app, &t).await;
    aggregate_full(&app, &t).await;
    assert_eq!(recent, snapshot(&app, &t).await);

    // Resuming F brings it back this month: new again.
    let r = app
        .post(
            &format!("/api/v1/recurring-invoices/{fid}/resume"),
            &t.admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    aggregate(&app, &t).await;
    let body = report(&app, &t.admin, "/api/v1/reports/mrr?from=2026-11-01").await;
    let nov = row_for(&rows(&body), "2026-11-01", "currency", "EUR").clone();
    assert_eq!(nov["mrr"], "433.33");
    assert_eq!(nov["churn"], "0.00");
}

/// Inserts a ticket as it would be after its life so far.
#[allow(clippy::too_many_arguments)]
async fn ticket(
    app: &TestApp,
    t: TenantId,
    number: i64,
    priority: &str,
    source: &str,
    created: &str,
    responded_after_secs: Option<i64>,
    resolved_after_mins: Option<i64>,
    sla_minutes: Option<(i64, i64)>,
    client: Option<&str>,
) {
    sqlx::query(
        "INSERT INTO tickets (id, company_id, number, token_code, subject, status, priority, source, client_id, \
           created_at, updated_at, first_response_at, resolved_at, sla_response_due, sla_resolution_due) \
         VALUES (gen_random_uuid(), $1, $2, 'abc', 'Help', \
           CASE WHEN $7::bigint IS NULL THEN 'open' ELSE 'resolved' END, $3, $4, $8::uuid, \
           $5::timestamptz, $5::timestamptz, $5::timestamptz + make_interval(secs => $6::bigint), \
           $5::timestamptz + make_interval(mins => $7::int), \
           $5::timestamptz + make_interval(mins => $9::int), $5::timestamptz + make_interval(mins => $10::int))",
    )
    .bind(t)
    .bind(number)
    .bind(priority)
    .bind(source)
    .bind(created)
    .bind(responded_after_secs)
    .bind(resolved_after_mins)
    .bind(client.map(|c| uuid::Uuid::parse_str(c).unwrap()))
    .bind(sla_minutes.map(|s| s.0 as i32))
    .bind(sla_minutes.map(|s| s.1 as i32))
    .execute(&app.owner)
    .await
    .expect("ticket");
}

#[tokio::test]
async fn ticket_volumes_times_and_sla_across_a_month_boundary() {
    let app = TestApp::new().await;
    set_today(&app);
    let t = app.tenant("Service MSP").await;
    let tech = app.user(&t, Role::Tech).await;
    let client = app.client(&t.admin, "Busy Client").await;
    // Berlin is UTC+1 in November. 23:30Z on 31 October is 00:30 on
    // 1 November there; 22:59Z is 23:59 on 31 October.
    ticket(
        &app,
        t.id,
        1,
        "low",
        "email",
        "2026-10-31T23:30:00Z",
        None,
        None,
        None,
        None,
    )
    .await;
    ticket(
        &app,
        t.id,
        2,
        "low",
        "email",
        "2026-10-31T22:59:00Z",
        None,
        None,
        None,
        None,
    )
    .await;
    // Ten high tickets opened at 08:00Z (09:00 local) on 2 November,
    // answered after 10, 20, … 100 minutes and resolved after 100, 200, …
    // 1000 minutes; targets: answer in 45, resolve in 550.
    for i in 1..=10i64 {
        ticket(
            &app,
            t.id,
            10 + i,
            "high",
            "api",
            "2026-11-02T08:00:00Z",
            Some(i * 10 * 60),
            Some(i * 100),
            Some((45, 550)),
            Some(&client),
        )
        .await;
    }
    // One more answered after 7.5 minutes (7 whole minutes), unresolved and
    // past its 60-minute resolution target.
    ticket(
        &app,
        t.id,
        30,
        "high",
        "api",
        "2026-11-02T08:00:00Z",
        Some(450),
        None,
        Some((45, 60)),
        Some(&client),
    )
    .await;

    aggregate(&app, &t).await;
    let daily = report(
        &app,
        &tech,
        "/api/v1/reports/ticket_volume_daily?from=2026-10-30&to=2026-11-04",
    )
    .await;
    let days = rows(&daily);
    // Resolved after 100·i minutes from 09:00 local: i = 1..8 on 2 November
    // (the 8th at 22:20), i = 9 at exactly 00:00 on 3 November, i = 10 at 01:40.
    // Day     opened resolved backlog
    // 30 Oct  (before the first ticket: no row)
    // 31 Oct  1      0        1
    // 1 Nov   1      0        2
    // 2 Nov   11     8        5
    // 3 Nov   0      2        3
    // 4 Nov   0      0        3
    let expect = [
        ("2026-10-31", 1, 0, 1),
        ("2026-11-01", 1, 0, 2),
        ("2026-11-02", 11, 8, 5),
        ("2026-11-03", 0, 2, 3),
        ("2026-11-04", 0, 0, 3),
    ];
    assert_eq!(days.len(), expect.len(), "{days:?}");
    for (i, (day, opened, resolved, backlog)) in expect.into_iter().enumerate() {
        assert_eq!(days[i]["period"], day);
        assert_eq!(days[i]["opened"], opened, "{day}");
        assert_eq!(days[i]["resolved"], resolved, "{day}");
        assert_eq!(days[i]["backlog"], backlog, "{day}");
    }
    // The same rows in pages of two.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = format!(
            "/api/v1/reports/ticket_volume_daily?from=2026-10-30&to=2026-11-04&limit=2{}",
            cursor
                .as_ref()
                .map(|c| format!("&cursor={c}"))
                .unwrap_or_default()
        );
        let page = report(&app, &tech, &path).await;
        assert!(rows(&page).len() <= 2);
        seen.extend(rows(&page).iter().map(|r| r["period"].clone()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let all_days: Vec<Value> = days.iter().map(|r| r["period"].clone()).collect();
    assert_eq!(seen, all_days);

    // Weeks from Monday: 26 Oct–1 Nov holds both low tickets.
    let weekly = report(
        &app,
        &tech,
        "/api/v1/reports/ticket_volume_weekly?from=2026-10-26&to=2026-11-09",
    )
    .await;
    let weeks = rows(&weekly);
    assert_eq!(weeks[0]["period"], "2026-10-26");
    assert_eq!(
        (weeks[0]["opened"].clone(), weeks[0]["backlog"].clone()),
        (json!(2), json!(2))
    );
    assert_eq!(weeks[1]["period"], "2026-11-02");
    assert_eq!(
        (
            weeks[1]["opened"].clone(),
            weeks[1]["resolved"].clone(),
            weeks[1]["backlog"].clone()
        ),
        (json!(11), json!(10), json!(3))
    );

    // Nearest rank over the 11 first responses 7, 10, 20, … 100: the median
    // is the 6th (⌈0.5 × 11⌉) = 50, the 90th percentile the 10th
    // (⌈0.9 × 11⌉) = 90. Resolutions 100 … 1000 (10): the 5th = 500 and the
    // 9th = 900.
    let times = report(
        &app,
        &tech,
        "/api/v1/reports/response_times?from=2026-10-01&to=2026-11-01",
    )
    .await;
    let all = rows(&times);
    let high = row_for(&all, "2026-11-01", "priority", "high");
    assert_eq!(high["tickets"], 11);
    assert_eq!(high["responded"], 11);
    assert_eq!(high["first_response_median_minutes"], 50);
    assert_eq!(high["first_response_p90_minutes"], 90);
    assert_eq!(high["resolved"], 10);
    assert_eq!(high["resolution_median_minutes"], 500);
    assert_eq!(high["resolution_p90_minutes"], 900);
    let low_nov = row_for(&all, "2026-11-01", "priority", "low");
    assert_eq!(
        low_nov["tickets"], 1,
        "the 00:30 local ticket is November's"
    );
    assert!(low_nov["first_response_median_minutes"].is_null());
    let low_oct = row_for(&all, "2026-10-01", "priority", "low");
    assert_eq!(low_oct["tickets"], 1, "the 23:59 local ticket is October's");
    // The most urgent priority first within a month.
    let nov: Vec<&Value> = all.iter().filter(|r| r["period"] == "2026-11-01").collect();
    assert_eq!(nov[0]["priority"], "high");

    // SLA: answers at 7, 10, 20, 30, 40 met the 45-minute target (5), 50 … 100
    // did not (6); resolutions 100 … 500 met 550 (5), 600 … 1000 did not (5)
    // and the unresolved one is past its target (1): 10 met of 22 = 45.5%.
    let sla = report(
        &app,
        &tech,
        "/api/v1/reports/sla_compliance?from=2026-11-01",
    )
    .await;
    let s = row_for(&rows(&sla), "2026-11-01", "priority", "high").clone();
    assert_eq!(s["tickets"], 11);
    assert_eq!(s["response_met"], 5);
    assert_eq!(s["response_breached"], 6);
    assert_eq!(s["response_pending"], 0);
    assert_eq!(s["resolution_met"], 5);
    assert_eq!(s["resolution_breached"], 6);
    assert_eq!(s["compliance_percent"], "45.5");
    assert_eq!(
        rows(&sla).len(),
        1,
        "tickets without a policy are not counted"
    );

    let by_source = report(
        &app,
        &tech,
        "/api/v1/reports/tickets_by_source?from=2026-10-01",
    )
    .await;
    let api = row_for(&rows(&by_source), "2026-11-01", "source", "api").clone();
    assert_eq!(
        (api["opened"].clone(), api["resolved"].clone()),
        (json!(11), json!(10))
    );
    let email_oct = row_for(&rows(&by_source), "2026-10-01", "source", "email").clone();
    assert_eq!(email_oct["opened"], 1);
    let by_client = report(
        &app,
        &tech,
        &format!("/api/v1/reports/tickets_by_client?from=2026-11-01&client_id={client}"),
    )
    .await;
    assert_eq!(rows(&by_client).len(), 1);
    assert_eq!(rows(&by_client)[0]["client_name"], "Busy Client");
    assert_eq!(rows(&by_client)[0]["opened"], 11);
    let by_tech = report(
        &app,
        &tech,
        "/api/v1/reports/tickets_by_technician?from=2026-11-01",
    )
    .await;
    let unassigned = row_for(
        &rows(&by_tech),
        "2026-11-01",
        "technician_name",
        "(unassigned)",
    )
    .clone();
    assert_eq!(unassigned["opened"], 12);

    // Twice gives the same rows.
    let once = snapshot(&app, &t).await;
    aggregate_full(&app, &t).await;
    assert_eq!(once, snapshot(&app, &t).await);

    // Today the low ticket of 1 November is resolved and a new one opens:
    // the incremental run touches a few days and equals a full run.
    sqlx::query(
        "UPDATE tickets SET status = 'resolved', resolved_at = '2026-11-15T09:00:00Z' \
         WHERE company_id = $1 AND number = 1",
    )
    .bind(t.id)
    .execute(&app.owner)
    .await
    .unwrap();
    ticket(
        &app,
        t.id,
        40,
        "medium",
        "email",
        "2026-11-15T08:00:00Z",
        None,
        None,
        None,
        None,
    )
    .await;
    let inc = aggregate(&app, &t).await;
    let daily_run = run_of(&inc, "ticket_volume_daily");
    assert_eq!(daily_run["mode"], "incremental");
    assert!(
        daily_run["periods"].as_u64().unwrap() <= 6,
        "only the days around 1 and 15 November: {daily_run}"
    );
    let incremental = snapshot(&app, &t).await;
    aggregate_full(&app, &t).await;
    assert_eq!(incremental, snapshot(&app, &t).await);
    let daily = report(
        &app,
        &tech,
        "/api/v1/reports/ticket_volume_daily?from=2026-11-15",
    )
    .await;
    let today = &rows(&daily)[0];
    assert_eq!(
        (
            today["opened"].clone(),
            today["resolved"].clone(),
            today["backlog"].clone()
        ),
        (json!(1), json!(1), json!(3))
    );

    // A target that runs out with nothing else changing: running until the
    // SLA check marks it breached, which the next nightly run picks up.
    ticket(
        &app,
        t.id,
        50,
        "critical",
        "api",
        "2026-11-15T08:00:00Z",
        None,
        None,
        Some((600, 6000)),
        None,
    )
    .await;
    aggregate(&app, &t).await;
    let sla = report(
        &app,
        &tech,
        "/api/v1/reports/sla_compliance?from=2026-11-01",
    )
    .await;
    let c = row_for(&rows(&sla), "2026-11-01", "priority", "critical").clone();
    assert_eq!(
        (
            c["response_met"].clone(),
            c["response_breached"].clone(),
            c["response_pending"].clone()
        ),
        (json!(0), json!(0), json!(1))
    );
    app.clock
        .set(Utc.with_ymd_and_hms(2026, 11, 15, 20, 0, 0).unwrap());
    sqlx::query(
        "UPDATE tickets SET sla_response_state = 'breached', sla_state = 'breached', sla_checked_at = $2 \
         WHERE company_id = $1 AND number = 50",
    )
    .bind(t.id)
    .bind(app.clock_now())
    .execute(&app.owner)
    .await
    .unwrap();
    aggregate(&app, &t).await;
    // (Read directly: the moved clock has outlived the access tokens.)
    let mut tx = app.db.tenant(t.id).await.unwrap();
    let sla = nestogy_domain::reports::read(
        &mut tx,
        ReportName::SlaCompliance,
        &nestogy_domain::reports::ReportQuery::default(),
    )
    .await
    .unwrap();
    tx.end_read();
    let sla: Vec<Value> = sla.rows.into_iter().map(Value::Object).collect();
    let c = row_for(&sla, "2026-11-01", "priority", "critical").clone();
    assert_eq!(
        (
            c["response_breached"].clone(),
            c["response_pending"].clone()
        ),
        (json!(1), json!(0))
    );
    // A check that changes nothing the reports read notes nothing.
    let before = app
        .count(&format!(
            "SELECT count(*) FROM report_changes WHERE company_id = '{}'",
            t.id
        ))
        .await;
    assert_eq!(before, 0);
    sqlx::query("UPDATE tickets SET sla_checked_at = $2 WHERE company_id = $1")
        .bind(t.id)
        .bind(app.clock_now())
        .execute(&app.owner)
        .await
        .unwrap();
    let after = app
        .count(&format!(
            "SELECT count(*) FROM report_changes WHERE company_id = '{}'",
            t.id
        ))
        .await;
    assert_eq!(after, 0);
}

#[tokio::test]
async fn who_reads_what_and_bad_reads() {
    let app = TestApp::new().await;
    set_today(&app);
    let t = app.tenant("Roles MSP").await;
    let tech = app.user(&t, Role::Tech).await;
    let accountant = app.user(&t, Role::Accountant).await;

    let names = |r: &Value| -> Vec<String> {
        r.as_array()
            .unwrap()
            .iter()
            .map(|x| x["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let admin_list = report(&app, &t.admin, "/api/v1/reports").await;
    assert_eq!(names(&admin_list).len(), ReportName::ALL.len());
    let tech_list = names(&report(&app, &tech, "/api/v1/reports").await);
    assert!(tech_list.contains(&"ticket_volume_daily".to_owned()));
    assert!(tech_list.contains(&"warranties_expiring".to_owned()));
    assert!(!tech_list.contains(&"mrr".to_owned()));
    let acc_list = names(&report(&app, &accountant, "/api/v1/reports").await);
    assert!(acc_list.contains(&"ar_ageing".to_owned()));
    assert!(!acc_list.contains(&"sla_compliance".to_owned()));
    assert_eq!(tech_list.len() + acc_list.len(), ReportName::ALL.len());

    for (token, path, status) in [
        (
            &tech,
            "/api/v1/reports/finance_summary",
            StatusCode::FORBIDDEN,
        ),
        (&tech, "/api/v1/reports/response_times", StatusCode::OK),
        (
            &accountant,
            "/api/v1/reports/response_times",
            StatusCode::FORBIDDEN,
        ),
        (&accountant, "/api/v1/reports/mrr", StatusCode::OK),
        (&t.admin, "/api/v1/reports/nope", StatusCode::NOT_FOUND),
    ] {
        let r = app.get(path, token).await;
        assert_eq!(r.status, status, "{path}: {}", r.body);
        if !status.is_success() {
            r.error_code();
        }
    }
    let r = app
        .post("/api/v1/reports/mrr/refresh", &tech, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let bad = app
        .get(
            "/api/v1/reports/finance_summary?from=2026-11-01&to=2026-10-01",
            &t.admin,
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(field_code(&bad, "from"), "after_to");
    let bad = app
        .get(
            "/api/v1/reports/finance_summary?from=2000-01-01&to=2026-10-01",
            &t.admin,
        )
        .await;
    assert_eq!(field_code(&bad, "from"), "range_too_long");
    let client = app.client(&t.admin, "Filter Client").await;
    let bad = app
        .get(&format!("/api/v1/reports/mrr?client_id={client}"), &t.admin)
        .await;
    assert_eq!(field_code(&bad, "client_id"), "not_applicable");
    for (q, field) in [
        ("limit=0", "limit"),
        ("limit=5001", "limit"),
        ("cursor=garbage", "cursor"),
    ] {
        let bad = app.get(&format!("/api/v1/reports/mrr?{q}"), &t.admin).await;
        assert_eq!(
            field_code(&bad, field),
            if field == "limit" {
                "out_of_range"
            } else {
                "invalid"
            },
            "{q}"
        );
    }
    let bad = app
        .get("/api/v1/reports/mrr?from=yesterday", &t.admin)
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    bad.error_code();
    let bad = app.get("/api/v1/reports/mrr?colour=red", &t.admin).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let unknown_client = app
        .get(
            &format!(
                "/api/v1/reports/ar_ageing?client_id={}",
                uuid::Uuid::now_v7()
            ),
            &t.admin,
        )
        .await;
    assert_eq!(unknown_client.status, StatusCode::NOT_FOUND);

    // A refresh is a job; a worker runs it and the snapshot has a time.
    let before = report(&app, &t.admin, "/api/v1/reports/projects_by_status").await;
    assert!(before["computed_at"].is_null());
    let r = app
        .post(
            "/api/v1/reports/projects_by_status/refresh",
            &tech,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let job =
        nestogy_domain::JobId(uuid::Uuid::parse_str(r.body["job_id"].as_str().unwrap()).unwrap());
    let worker = app.start_worker();
    eventually(
        "the refresh job runs",
        std::time::Duration::from_secs(20),
        || {
            let app = &app;
            async move { app.job_state(job).await.0 == "succeeded" }
        },
    )
    .await;
    worker.stop().await;
    let after = report(&app, &t.admin, "/api/v1/reports/projects_by_status").await;
    assert!(after["computed_at"].is_string(), "{after}");
    // A row per open status, zeros included.
    assert_eq!(rows(&after).len(), 3);
    // Only that report was computed.
    let other = report(&app, &t.admin, "/api/v1/reports/ticket_volume_daily").await;
    assert!(other["computed_at"].is_null());
}

#[tokio::test]
async fn management_report_is_mailed_once_a_month_with_charts() {
    let app = TestApp::new().await;
    // 1 December, 07:00 in Berlin: the schedule's time.
    app.clock
        .set(Utc.with_ymd_and_hms(2026, 12, 1, 6, 0, 0).unwrap());
    let t = app.tenant("Monthly MSP").await;
    let c = app.client(&t.admin, "Report Client Ltd").await;
    let i = invoice(&app, &t, &c, "1250.00", "2026-11-03", "2026-11-17").await;
    pay(&app, &t, &i, "1000.00", "2026-11-20").await;
    let r = app
        .patch(
            "/api/v1/company",
            &t.admin,
            json!({"settings": {"report_recipients": ["cfo@monthly.example", "books@monthly.example"]}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let bad = app
        .patch(
            "/api/v1/company",
            &t.admin,
            json!({"settings": {"report_recipients": ["not an address"]}}),
        )
        .await;
    assert_eq!(field_code(&bad, "settings.report_recipients"), "invalid");

    // The schedule every company starts with.
    let n = app
        .count(&format!(
            "SELECT count(*) FROM schedules WHERE company_id = '{}' AND kind = 'reports.management' \
             AND cron = '0 7 1 * *'",
            t.id
        ))
        .await;
    assert_eq!(n, 1);

    let first = app
        .run_job(Management {
            tenant: t.id,
            month: None,
        })
        .await
        .expect("report");
    assert_eq!(first["month"], "2026-11-01");
    assert_eq!(first["created"], true);
    let again = app
        .run_job(Management {
            tenant: t.id,
            month: None,
        })
        .await
        .expect("report");
    assert_eq!(again["created"], false, "one message per month");
    let mails = app
        .count(&format!(
            "SELECT count(*) FROM mail_messages WHERE company_id = '{}' AND template = 'management_report'",
            t.id
        ))
        .await;
    assert_eq!(mails, 1);
    let (recipients, subject): (Vec<String>, String) = sqlx::query_as(
        "SELECT recipients, subject FROM mail_messages WHERE company_id = $1 AND template = 'management_report'",
    )
    .bind(t.id)
    .fetch_one(&app.owner)
    .await
    .unwrap();
    assert_eq!(
        recipients,
        vec!["cfo@monthly.example", "books@monthly.example"]
    );
    assert_eq!(subject, "Management report November 2026");

    let key = first["file"].as_str().unwrap();
    let pdf = app.services.files.get(key).await.expect("stored PDF");
    assert!(pdf.starts_with(b"%PDF"));
    let (text, _) = pdf_text(&pdf);
    assert!(text.contains("Management report"), "{text}");
    assert!(text.contains("November 2026"), "{text}");
    assert!(text.contains("Report Client Ltd"), "{text}");
    assert!(text.contains("1,250.00"), "invoiced in November: {text}");

    // By API: a month in the future is refused; a past one is a job.
    let bad = app
        .post(
            "/api/v1/management-reports",
            &t.admin,
            json!({"month": "2027-01-01"}),
        )
        .await;
    assert_eq!(field_code(&bad, "month"), "in_future");
    let tech = app.user(&t, Role::Tech).await;
    let r = app
        .post("/api/v1/management-reports", &tech, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .post(
            "/api/v1/management-reports",
            &t.admin,
            json!({"month": "2026-10-01"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert!(r.body["job_id"].is_string());
}

#[tokio::test]
async fn a_tenant_sees_only_its_own_figures() {
    let app = TestApp::new().await;
    set_today(&app);
    let a = app.tenant("Tenant A Reports").await;
    let b = app.tenant("Tenant B Reports").await;
    let ca = app.client(&a.admin, "Aardvark Secret Client").await;
    let ia = invoice(&app, &a, &ca, "4242.00", "2026-11-01", "2026-11-05").await;
    pay(&app, &a, &ia, "42.00", "2026-11-06").await;
    ticket(
        &app,
        a.id,
        1,
        "high",
        "api",
        "2026-11-02T08:00:00Z",
        Some(60),
        None,
        Some((30, 60)),
        Some(&ca),
    )
    .await;
    let cb = app.client(&b.admin, "B's Client").await;
    invoice(&app, &b, &cb, "10.00", "2026-11-01", "2026-11-30").await;

    // B's run leaves A's changed days for A's run.
    aggregate(&app, &b).await;
    let left = app
        .count(&format!(
            "SELECT count(*) FROM report_changes WHERE company_id = '{}'",
            a.id
        ))
        .await;
    assert!(left > 0, "A's changes are A's");
    aggregate(&app, &a).await;

    for name in ReportName::ALL {
        let r = report(
            &app,
            &b.admin,
            &format!("/api/v1/reports/{}?from=2026-01-01", name.as_str()),
        )
        .await;
        let text = r.to_string();
        assert!(
            !text.contains(&ca)
                && !text.contains("Aardvark")
                && !text.contains("4242")
                && !text.contains("4200"),
            "{} shows A's data to B: {text}",
            name.as_str()
        );
    }
    let fb = report(&app, &b.admin, "/api/v1/reports/finance_summary").await;
    let nov = row_for(&rows(&fb), "2026-11-01", "currency", "EUR").clone();
    assert_eq!(nov["invoiced"], "10.00");
    let tb = report(
        &app,
        &b.admin,
        "/api/v1/reports/response_times?from=2026-11-01",
    )
    .await;
    assert!(rows(&tb).is_empty(), "B has no tickets: {tb}");
    let fa = report(&app, &a.admin, "/api/v1/reports/finance_summary").await;
    assert_eq!(
        row_for(&rows(&fa), "2026-11-01", "currency", "EUR")["outstanding"],
        "4200.00"
    );
}

#[tokio::test]
async fn aggregation_and_the_monthly_report_twice_at_once_act_once() {
    let app = TestApp::new().await;
    set_today(&app);
    let t = app.tenant("Twice MSP").await;
    let c = app.client(&t.admin, "Twice Client").await;
    let i = invoice(&app, &t, &c, "500.00", "2026-10-03", "2026-10-20").await;
    pay(&app, &t, &i, "125.00", "2026-11-02").await;
    ticket(
        &app,
        t.id,
        1,
        "medium",
        "api",
        "2026-10-30T10:00:00Z",
        Some(600),
        Some(90),
        Some((30, 120)),
        Some(&c),
    )
    .await;
    ticket(
        &app,
        t.id,
        2,
        "low",
        "email",
        "2026-11-03T10:00:00Z",
        None,
        None,
        None,
        None,
    )
    .await;

    // Two incremental runs at once: one waits for the other's lock, and
    // the rows are those of one full run.
    let (a, b) = tokio::join!(aggregate(&app, &t), aggregate(&app, &t));
    let changed = a["changed_days"].as_u64().unwrap() + b["changed_days"].as_u64().unwrap();
    assert!(changed > 0, "one of them took the changes: {a} {b}");
    let together = snapshot(&app, &t).await;
    assert!(!together.is_empty());
    aggregate_full(&app, &t).await;
    assert_eq!(together, snapshot(&app, &t).await);

    // Two monthly reports at once: one message.
    let job = || Management {
        tenant: t.id,
        month: Some(chrono::NaiveDate::from_ymd_opt(2026, 10, 1).unwrap()),
    };
    let (x, y) = tokio::join!(app.run_job(job()), app.run_job(job()));
    let (x, y) = (x.expect("first"), y.expect("second"));
    assert_ne!(
        x["created"], y["created"],
        "exactly one created it: {x} {y}"
    );
    let mails = app
        .count(&format!(
            "SELECT count(*) FROM mail_messages WHERE company_id = '{}' AND template = 'management_report'",
            t.id
        ))
        .await;
    assert_eq!(mails, 1);
    // The admin (no finance list is set) is its recipient.
    let recipients: Vec<String> = sqlx::query_scalar(
        "SELECT recipients FROM mail_messages WHERE company_id = $1 AND template = 'management_report'",
    )
    .bind(t.id)
    .fetch_one(&app.owner)
    .await
    .unwrap();
    assert_eq!(recipients, vec!["admin@twice-msp.example"]);
}

#[tokio::test]
async fn warranties_by_month_and_open_projects_by_status() {
    let app = TestApp::new().await;
    set_today(&app);
    let t = app.tenant("Assets MSP").await;
    let c1 = app.client(&t.admin, "One").await;
    let c2 = app.client(&t.admin, "Two").await;
    for (client, expires, status) in [
        (&c1, "2026-12-01", "in_use"),
        (&c1, "2026-12-31", "spare"),
        (&c2, "2026-12-15", "in_use"),
        // Retired assets are left out.
        (&c2, "2026-12-20", "retired"),
        (&c2, "2027-02-28", "in_use"),
    ] {
        let r = app
            .post(
                "/api/v1/assets",
                &t.admin,
                json!({"client_id": client, "name": "Laptop", "type": "laptop",
                       "warranty_expires": expires, "status": status}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    for (name, status, due) in [
        ("Rollout", "active", Some("2026-11-01")),
        ("Migration", "active", Some("2026-12-01")),
        ("Audit", "on_hold", None),
        ("Done", "done", Some("2026-10-01")),
    ] {
        let r = app
            .post(
                "/api/v1/projects",
                &t.admin,
                json!({"client_id": c1, "name": name, "status": status, "due_date": due}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    aggregate(&app, &t).await;
    let w = report(
        &app,
        &t.admin,
        "/api/v1/reports/warranties_expiring?from=2026-11-01&to=2027-03-01",
    )
    .await;
    let w = rows(&w);
    assert_eq!(w.len(), 2, "{w:?}");
    assert_eq!(w[0]["period"], "2026-12-01");
    assert_eq!(
        (w[0]["assets"].clone(), w[0]["clients"].clone()),
        (json!(3), json!(2))
    );
    assert_eq!(w[1]["period"], "2027-02-01");
    assert_eq!(w[1]["assets"], 1);

    let p = report(&app, &t.admin, "/api/v1/reports/projects_by_status").await;
    let p = rows(&p);
    let by = |s: &str| p.iter().find(|r| r["status"] == s).unwrap().clone();
    assert_eq!(
        (
            by("planned")["projects"].clone(),
            by("planned")["overdue"].clone()
        ),
        (json!(0), json!(0))
    );
    // Due 1 November is past on 15 November; due 1 December is not.
    assert_eq!(
        (
            by("active")["projects"].clone(),
            by("active")["overdue"].clone()
        ),
        (json!(2), json!(1))
    );
    assert_eq!(by("on_hold")["projects"], 1);
    assert_eq!(p.len(), 3, "done projects are not open");
}

#[tokio::test]
async fn rendered_management_reports_are_listed_and_served_to_finance_only() {
    let app = TestApp::new().await;
    set_today(&app);
    let t = app.tenant("Stored Reports").await;
    let other = app.tenant("Other Stored Reports").await;
    let empty = app.get("/api/v1/management-reports", &t.admin).await;
    assert_eq!(empty.status, StatusCode::OK, "{}", empty.body);
    assert_eq!(empty.body, json!([]));
    for _ in 0..2 {
        app.run_job(Management {
            tenant: t.id,
            month: Some(chrono::NaiveDate::from_ymd_opt(2026, 10, 9).unwrap()),
        })
        .await
        .expect("report");
    }
    let list = app.get("/api/v1/management-reports", &t.admin).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    let rows = list.body.as_array().unwrap();
    assert_eq!(
        rows.len(),
        1,
        "one per month, however often rendered: {}",
        list.body
    );
    assert_eq!(rows[0]["month"], "2026-10-01");
    assert_eq!(rows[0]["file_name"], "management-report-2026-10.pdf");
    assert!(rows[0]["bytes"].as_i64().unwrap() > 1000, "{}", list.body);

    let (status, headers, pdf) = app
        .get_bytes("/api/v1/management-reports/2026-10/pdf", &t.admin)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/pdf");
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("management-report-2026-10.pdf")
    );
    assert!(pdf.starts_with(b"%PDF"));
    assert_eq!(pdf.len() as i64, rows[0]["bytes"].as_i64().unwrap());
    for path in [
        "/api/v1/management-reports/2026-09/pdf",
        "/api/v1/management-reports/junk/pdf",
    ] {
        let r = app.get(path, &t.admin).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
    }

    // Another tenant sees none of it; a tech may not.
    let theirs = app.get("/api/v1/management-reports", &other.admin).await;
    assert_eq!(theirs.body, json!([]));
    let r = app
        .get("/api/v1/management-reports/2026-10/pdf", &other.admin)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let tech = app.user(&t, Role::Tech).await;
    let r = app.get("/api/v1/management-reports", &tech).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .get("/api/v1/management-reports/2026-10/pdf", &tech)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}
