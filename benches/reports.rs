//! Reports benchmark (issue 8): aggregation over a large tenant base, and
//! report reads.
//!
//! What it does, in a fresh database `nestogy_bench_reports`, with the
//! application's clock fixed at 2026-11-30T12:00:00Z:
//!
//! 1. Creates 20 companies in a mix of time zones and currencies (Berlin/EUR,
//!    New York/USD, Tokyo/JPY, UTC, London/GBP, Los Angeles/USD,
//!    Sydney/AUD), each with 200 clients, 5 techs and an admin, 20 products,
//!    a tax rate, 4 SLA policies and 100 recurring templates (for MRR).
//! 2. Generates 1,000,000 tickets (50,000 per tenant, growing over the 730
//!    days before "now"), each with one message: priorities, sources
//!    (email, api, rmm), clients (skewed), assignees, first responses,
//!    resolutions (log-uniform times), closures and SLA due times.
//! 3. Generates 1,000,000 invoice lines: 10,000 finalized invoices per tenant
//!    with 5 lines each (70 % with a product, 10 % discounted, taxed), issued
//!    over the same 24 months; mostly paid (with payments, a few overpaid
//!    into client credit), some sent, overdue or partially paid, a few void.
//!    Totals are consistent: subtotal = Σ line nets, total = subtotal + tax,
//!    amount_paid = Σ applied payments. Everything is set-based SQL with
//!    pseudo-random values from hashes of the row numbers (deterministic),
//!    run on two connections. Then VACUUM ANALYZE, as autovacuum would.
//! 4. Full aggregation of every tenant (`reports::aggregate(.., Full)`), two
//!    tenants at a time (as production runs two report jobs per worker).
//! 5. "A day's new data": the clock moves one day; per tenant 1/730 of the
//!    volume arrives (68 tickets with messages, 30 older open tickets
//!    resolved, 14 invoices of 5 lines with some paid, 10 older open
//!    invoices paid), then an incremental aggregation of every tenant.
//! 6. Report reads through the real router (`nestogy_api::app`, in process,
//!    `tower::ServiceExt::oneshot`, an admin's bearer token): every report
//!    with its default range, `ticket_volume_daily` over 365 days and
//!    `revenue_by_client` filtered by a client, for every tenant, 7 rounds
//!    after one warm-up round; and the same reads through `reports::read`
//!    in a tenant transaction (the handler minus HTTP).
//!
//! Each aggregation prints its wall time, the slowest tenant, the change-log
//! days it consumed and every report's `duration_ms` (slowest tenant, and
//! summed over tenants); the reads print p50/p99/max overall and per kind of
//! read, with the rows and bytes each returns.
//!
//! Sanity checks assert after each aggregation: per tenant, the opened
//! tickets summed over the daily and the weekly volume equal the tickets in
//! the table, the last day's backlog equals the unresolved tickets, and the
//! finance summary's invoiced sum and last outstanding balance equal the
//! invoices'.
//!
//! Targets on the 2-core machine: full aggregation under 20 s, incremental
//! under 1 s, report reads p99 under 5 ms.
//!
//! Run: `make bench-reports`, or `cargo bench --bench reports`; the sizes
//! can be changed with `TENANTS=20 TICKETS=1000000 LINES=1000000`
//! (totals over all tenants). Needs PostgreSQL and Redis (`make services`);
//! `NESTOGY_BENCH_ADMIN_URL` and `REDIS_URL` as for the other benches.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

// `start_workers` goes unused: no job runs here.
#[allow(dead_code)]
#[path = "support/mod.rs"]
mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use nestogy_domain::kernel::clock::{ManualClock, SharedClock};
use nestogy_domain::kernel::roles::Role;
use nestogy_domain::reports::{self, AggregateMode, AggregateSummary, ReportName, ReportQuery};
use nestogy_domain::{ClientId, Db, TenantId, UserId, identity::company};
use support::env_or;
use support::seed::{RANDOM_FN, TICKETS_SQL};
use tower::ServiceExt;

/// Report jobs run at once (production: two per worker on 2 cores).
const CONCURRENCY: usize = 2;
const CLIENTS_PER_TENANT: i64 = 200;
const LINES_PER_INVOICE: i64 = 5;
const DAYS: i64 = 730;
/// Measured read rounds (after one warm-up round).
const READ_ROUNDS: usize = 7;

/// (time zone, currency, digits, price scale, tax percent)
const ZONES: &[(&str, &str, i32, f64, &str)] = &[
    ("Europe/Berlin", "EUR", 2, 1.0, "19"),
    ("America/New_York", "USD", 2, 1.0, "8.875"),
    ("Asia/Tokyo", "JPY", 0, 150.0, "10"),
    ("UTC", "EUR", 2, 1.0, "0"),
    ("Europe/London", "GBP", 2, 0.85, "20"),
    ("America/Los_Angeles", "USD", 2, 1.0, "7.25"),
    ("Australia/Sydney", "AUD", 2, 1.5, "10"),
];

const PRODUCTS: &[&str] = &[
    "Managed workstation",
    "Managed server",
    "Managed firewall",
    "Managed switch",
    "Backup 100 GB",
    "Backup 1 TB",
    "Microsoft 365 Business Basic",
    "Microsoft 365 Business Premium",
    "Endpoint protection",
    "Email security",
    "Domain renewal",
    "SSL certificate",
    "Website hosting",
    "VoIP seat",
    "Monitoring agent",
    "Patch management",
    "Onsite visit",
    "Remote support block",
    "Hardware: laptop",
    "Hardware: docking station",
];

/// Finalized invoices with their lines, payments and the credit from
/// overpayments. `$1` company, `$2` how many, `$3` today (local), `$4` the
/// random key offset, `$5` currency, `$6` its digits, `$7` the price scale,
/// `$8` the tax percent (text), `$9` the tax rate's id, `$10` the first
/// issue date, `$11` the window in days, `$12` the exponent spreading issue
/// dates, `$13` the number offset, `$14` now.
const INVOICES_SQL: &str = "
WITH cl AS (SELECT array_agg(id ORDER BY name) a, count(*)::int n FROM clients WHERE company_id = $1),
pr AS (SELECT array_agg(id ORDER BY name) a, array_agg(unit_price ORDER BY name) price,
         array_agg(name ORDER BY name) nm, count(*)::int n FROM products WHERE company_id = $1),
inv AS MATERIALIZED (
  SELECT j, k, gen_random_uuid() AS id, gen_random_uuid() AS pay_id,
    $10::date + floor($11::int * power((j - 1 + bench_r(k, 1)) / $2::float8, $12::float8))::int AS issue_date,
    cl.a[1 + floor(cl.n * power(bench_r(k, 2), 1.5))::int] AS client_id,
    bench_r(k, 3) rs, bench_r(k, 4) rpay, bench_r(k, 5) rdue, bench_r(k, 6) rover
  FROM generate_series(1::bigint, $2::bigint) j, LATERAL (SELECT $4::bigint + j AS k) s, cl
),
ln AS MATERIALIZED (
  SELECT j, pos, product_id, description, qty, unit_price, gross, disc, gross - disc AS net,
    round((gross - disc) * $8::numeric / 100, $6::int) AS tax
  FROM (
    SELECT j, pos, product_id, description, qty, unit_price, round(qty * unit_price, $6::int) AS gross,
      CASE WHEN rd < 0.1 THEN round(round(qty * unit_price, $6::int) * 0.1, $6::int) ELSE 0 END AS disc
    FROM (
      SELECT inv.j, pos, pr.a[y.pi] AS product_id, COALESCE(pr.nm[y.pi], 'Consulting (hours)') AS description,
        y.qty, COALESCE(pr.price[y.pi], round((40 + 160 * y.rp)::numeric * $7::numeric, $6::int)) AS unit_price, y.rd
      FROM inv CROSS JOIN generate_series(1, 5) pos CROSS JOIN pr,
      LATERAL (SELECT CASE WHEN bench_r(inv.k * 8 + pos, 11) < 0.7
                        THEN 1 + floor(pr.n * bench_r(inv.k * 8 + pos, 12))::int END AS pi,
                      (1 + floor(10 * power(bench_r(inv.k * 8 + pos, 13), 2)))::numeric AS qty,
                      bench_r(inv.k * 8 + pos, 14) AS rp, bench_r(inv.k * 8 + pos, 15) AS rd) y
    ) a
  ) b
),
tot AS (SELECT j, sum(net) subtotal, sum(disc) disc, sum(tax) tax, sum(net + tax) total FROM ln GROUP BY j),
h1 AS (
  SELECT inv.*, tot.subtotal, tot.disc, tot.tax, tot.total,
    inv.issue_date + CASE WHEN rdue < 0.3 THEN 14 ELSE 30 END AS due_date,
    ($3::date - inv.issue_date) AS age,
    (rs - 0.01::float8) / 0.99::float8 AS u
  FROM inv JOIN tot USING (j)
),
h2 AS (
  SELECT h1.*,
    CASE WHEN rs < 0.01 THEN 'void'
         WHEN u < least(0.97, 0.2 + 0.77 * age / 75.0)::float8 THEN 'paid'
         WHEN u < least(0.97, 0.2 + 0.77 * age / 75.0)::float8 + 0.02 THEN 'partially_paid'
         WHEN due_date < $3::date THEN 'overdue' ELSE 'sent' END AS status
  FROM h1
),
hdr AS MATERIALIZED (
  SELECT h2.*,
    CASE status WHEN 'paid' THEN total WHEN 'partially_paid' THEN round(total / 2, $6::int) ELSE 0 END AS paid,
    CASE WHEN status = 'paid' AND rover < 0.01 THEN round(10 * $7::numeric, $6::int) ELSE 0 END AS overpay,
    least(issue_date + floor(rpay * 45)::int, $3::date) AS paid_on,
    least((issue_date + time '09:00') AT TIME ZONE 'UTC', $14::timestamptz) AS at
  FROM h2
),
i_ins AS (
  INSERT INTO invoices (id, company_id, client_id, number, status, currency, issue_date, due_date, subtotal,
    discount_total, tax_total, total, amount_paid, finalized_at, voided_at, created_at, updated_at)
  SELECT id, $1, client_id, 'INV-' || lpad(($13::bigint + j)::text, 6, '0'), status, $5, issue_date, due_date,
    subtotal, disc, tax, total, paid, at, CASE WHEN status = 'void' THEN at END, at, at
  FROM hdr
),
l_ins AS (
  INSERT INTO invoice_lines (id, company_id, invoice_id, position, product_id, description, quantity, unit_price,
    discount, taxes, gross, discount_amount, net, tax, total)
  SELECT gen_random_uuid(), $1, hdr.id, ln.pos, ln.product_id, ln.description, ln.qty, ln.unit_price,
    CASE WHEN ln.disc > 0 THEN '{\"kind\": \"percent\", \"value\": \"10\"}'::jsonb END,
    jsonb_build_array(jsonb_build_object('tax_rate_id', $9::uuid, 'name', 'VAT', 'percent', $8::text,
      'inclusive', false, 'compound', false, 'amount', ln.tax::text)),
    ln.gross, ln.disc, ln.net, ln.tax, ln.net + ln.tax
  FROM ln JOIN hdr USING (j)
),
p_ins AS (
  INSERT INTO payments (id, company_id, client_id, invoice_id, kind, currency, amount, applied, method,
    paid_on, created_at)
  SELECT pay_id, $1, client_id, id, 'payment', $5, paid + overpay, paid, 'bank_transfer', paid_on, at
  FROM hdr WHERE paid > 0
)
INSERT INTO client_credits (id, company_id, client_id, currency, amount, payment_id, invoice_id, on_date, created_at)
SELECT gen_random_uuid(), $1, client_id, $5, overpay, pay_id, id, paid_on, at FROM hdr WHERE overpay > 0";

/// Older open tickets resolved during the new day. `$1` company, `$2` how
/// many, `$3` the previous run's time, `$4` a key offset, `$5` now.
const RESOLVE_SQL: &str = "
UPDATE tickets t SET status = 'resolved',
  resolved_at = $3 + make_interval(secs => 43200 + 43200 * bench_r(t.number + $4, 20)),
  first_response_at = COALESCE(t.first_response_at, $3 + make_interval(secs => 43200 * bench_r(t.number + $4, 21))),
  updated_at = $5
FROM (SELECT id FROM tickets WHERE company_id = $1 AND resolved_at IS NULL AND created_at < $3
      ORDER BY created_at DESC LIMIT $2) p
WHERE t.id = p.id";

/// Older open invoices paid in full on the new day. `$1` company, `$2`
/// today, `$3` how many, `$4` now.
const PAY_OLD_SQL: &str = "
WITH pick AS MATERIALIZED (
  SELECT id, client_id, currency, total - amount_paid AS bal FROM invoices
  WHERE company_id = $1 AND status IN ('sent', 'overdue', 'partially_paid') AND issue_date < $2
  ORDER BY md5(id::text) LIMIT $3
),
up AS (UPDATE invoices i SET status = 'paid', amount_paid = i.total, updated_at = $4 FROM pick WHERE i.id = pick.id)
INSERT INTO payments (id, company_id, client_id, invoice_id, kind, currency, amount, applied, method, paid_on, created_at)
SELECT gen_random_uuid(), $1, client_id, id, 'payment', currency, bal, bal, 'bank_transfer', $2, $4 FROM pick";

#[derive(Clone)]
struct Tenant {
    index: usize,
    id: TenantId,
    tz: &'static str,
    currency: &'static str,
    digits: i32,
    scale: f64,
    tax: &'static str,
    tax_id: uuid::Uuid,
    admin: uuid::Uuid,
    /// The client with the most tickets and invoices.
    top_client: uuid::Uuid,
}

struct Sizes {
    tickets: i64,
    invoices: i64,
}

fn main() {
    support::block_on(run());
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn run() {
    let tenants_n: usize = env_or("TENANTS", "20").parse().expect("TENANTS");
    let tickets_total: i64 = env_or("TICKETS", "1000000").parse().expect("TICKETS");
    let lines_total: i64 = env_or("LINES", "1000000").parse().expect("LINES");
    let sizes = Sizes {
        tickets: tickets_total / tenants_n as i64,
        invoices: lines_total / tenants_n as i64 / LINES_PER_INVOICE,
    };
    let (owner, app) = support::fresh_database("nestogy_bench_reports").await;
    let start: DateTime<Utc> = Utc
        .with_ymd_and_hms(2026, 11, 30, 12, 0, 0)
        .single()
        .expect("start");
    let clock = ManualClock::new(start);
    let shared: SharedClock = clock.clone();
    let db = Db::new(app.pool.clone(), shared);

    // Companies and what the generated rows point at.
    let setup_started = Instant::now();
    sqlx::query(RANDOM_FN)
        .execute(&owner)
        .await
        .expect("bench_r");
    let mut tenants = Vec::with_capacity(tenants_n);
    for t in 0..tenants_n {
        tenants.push(setup_tenant(&owner, t, start).await);
    }
    sqlx::query("DELETE FROM schedules")
        .execute(&owner)
        .await
        .expect("no schedules");
    println!(
        "setup:       {tenants_n} companies with {CLIENTS_PER_TENANT} clients, 5 techs, 20 products, 100 recurring templates each in {:.1} s",
        secs(setup_started.elapsed())
    );

    // The volume, two tenants at a time.
    let gen_started = Instant::now();
    let gen_times = generate(&owner, &tenants, &sizes, start).await;
    let gen_took = gen_started.elapsed();
    let (t_tickets, t_invoices) = gen_times
        .iter()
        .fold((Duration::ZERO, Duration::ZERO), |(a, b), (x, y)| {
            (a + *x, b + *y)
        });
    let counts: (i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM tickets), (SELECT count(*) FROM ticket_messages), \
         (SELECT count(*) FROM invoices), (SELECT count(*) FROM invoice_lines), (SELECT count(*) FROM payments)",
    )
    .fetch_one(&owner)
    .await
    .expect("counts");
    println!(
        "generated:   {} tickets, {} messages, {} invoices, {} invoice lines, {} payments in {:.1} s \
         ({:.1} s tickets + {:.1} s invoices summed over {CONCURRENCY} connections)",
        counts.0,
        counts.1,
        counts.2,
        counts.3,
        counts.4,
        secs(gen_took),
        secs(t_tickets),
        secs(t_invoices)
    );
    let vac_started = Instant::now();
    sqlx::query(
        "VACUUM (ANALYZE) tickets, ticket_messages, invoices, invoice_lines, payments, client_credits, \
         clients, users, products, recurring_invoices, report_changes",
    )
    .execute(&owner)
    .await
    .expect("vacuum");
    println!(
        "vacuum:      VACUUM ANALYZE of the generated tables in {:.1} s (not part of any figure below)",
        secs(vac_started.elapsed())
    );

    // Full aggregation.
    let (full_took, full) = aggregate_all(&db, &tenants, AggregateMode::Full).await;
    print_runs("full", &tenants, full_took, &full);
    check(&owner, &tenants, sizes.tickets, "full").await;

    // A day's new data.
    let prev = start;
    clock.advance(chrono::Duration::days(1));
    let now = prev + chrono::Duration::days(1);
    let day_started = Instant::now();
    let day = new_day(&owner, &tenants, &sizes, prev, now).await;
    println!(
        "new day:     {} tickets with messages, {} older tickets resolved, {} invoices ({} lines), \
         {} older invoices paid, across {tenants_n} tenants, in {:.2} s",
        day.tickets * tenants_n as i64,
        day.resolved,
        day.invoices * tenants_n as i64,
        day.invoices * tenants_n as i64 * LINES_PER_INVOICE,
        day.paid_old,
        secs(day_started.elapsed())
    );

    // Incremental aggregation.
    let (inc_took, inc) = aggregate_all(&db, &tenants, AggregateMode::Incremental).await;
    print_runs("incremental", &tenants, inc_took, &inc);
    check(&owner, &tenants, sizes.tickets + day.tickets, "incremental").await;

    // Reads.
    let ctx = support::job_context(db.clone(), "nestogy_bench_reports").await;
    let (http, domain) = reads(&db, ctx.clone(), &tenants, clock.as_ref()).await;
    let (stop, _) = tokio::sync::watch::channel(false);
    support::finish(&ctx, stop, Vec::new()).await;

    println!();
    println!("full aggregation: {:.2} s (target < 20 s)", secs(full_took));
    println!("incremental:      {:.2} s (target < 1 s)", secs(inc_took));
    println!(
        "reads p99:        {:.2} ms over HTTP, {:.2} ms through reports::read (target < 5 ms)",
        http, domain
    );
}

/// One company with its clients, users, products, tax rate, SLA policies
/// and recurring templates.
async fn setup_tenant(owner: &sqlx::PgPool, t: usize, now: DateTime<Utc>) -> Tenant {
    let (tz, currency, digits, scale, tax) = ZONES[t % ZONES.len()];
    let mut conn = owner.acquire().await.expect("conn");
    let (c, _) = company::create_or_get(
        &mut conn,
        &format!("Bench MSP {t:02}"),
        tz,
        currency,
        now - chrono::Duration::days(800),
    )
    .await
    .expect("company");
    let since = now - chrono::Duration::days(800);
    sqlx::query(
        "INSERT INTO clients (id, company_id, name, email, created_at, updated_at) \
         SELECT gen_random_uuid(), $1, 'Client ' || lpad(i::text, 3, '0'), 'billing@client' || i || '.example', $2, $2 \
         FROM generate_series(1, $3::bigint) i",
    )
    .bind(c.id)
    .bind(since)
    .bind(CLIENTS_PER_TENANT)
    .execute(&mut *conn)
    .await
    .expect("clients");
    sqlx::query(
        "INSERT INTO users (id, company_id, email, name, role, password_hash, created_at, updated_at) \
         SELECT gen_random_uuid(), $1, 'tech' || i || '@msp' || $2 || '.bench.example', 'Tech ' || i, 'tech', \
           'no password: never signs in', $3, $3 FROM generate_series(1, 5) i",
    )
    .bind(c.id)
    .bind(t as i64)
    .bind(since)
    .execute(&mut *conn)
    .await
    .expect("techs");
    let admin: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO users (id, company_id, email, name, role, password_hash, created_at, updated_at) \
         VALUES (gen_random_uuid(), $1, 'admin@msp' || $2 || '.bench.example', 'Admin', 'admin', \
           'no password: the bench signs its token', $3, $3) RETURNING id",
    )
    .bind(c.id)
    .bind(t as i64)
    .bind(since)
    .fetch_one(&mut *conn)
    .await
    .expect("admin");
    let names: Vec<String> = PRODUCTS.iter().map(|s| (*s).to_owned()).collect();
    sqlx::query(
        "INSERT INTO products (id, company_id, name, unit_price, created_at, updated_at) \
         SELECT gen_random_uuid(), $1, n, round(((15 + 12.5 * i) * $3)::numeric, $4), $5, $5 \
         FROM unnest($2::text[]) WITH ORDINALITY u(n, i)",
    )
    .bind(c.id)
    .bind(&names)
    .bind(scale)
    .bind(digits)
    .bind(since)
    .execute(&mut *conn)
    .await
    .expect("products");
    let tax_id: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO tax_rates (id, company_id, name, percent, created_at, updated_at) \
         VALUES (gen_random_uuid(), $1, 'VAT', $2::numeric, $3, $3) RETURNING id",
    )
    .bind(c.id)
    .bind(tax)
    .bind(since)
    .fetch_one(&mut *conn)
    .await
    .expect("tax rate");
    sqlx::query(
        "INSERT INTO sla_policies (id, company_id, priority, first_response_minutes, resolution_minutes, created_at, updated_at) \
         SELECT gen_random_uuid(), $1, p, r, s, $2, $2 \
         FROM (VALUES ('critical', 30, 480), ('high', 120, 1440), ('medium', 480, 4320), ('low', 1440, 10080)) v(p, r, s)",
    )
    .bind(c.id)
    .bind(since)
    .execute(&mut *conn)
    .await
    .expect("sla policies");
    // 100 templates: monthly (80 %) or yearly, started over the two years,
    // 10 % paused a month ago.
    sqlx::query(
        "INSERT INTO recurring_invoices (id, company_id, client_id, name, currency, frequency_unit, frequency_every, \
           start_date, next_cycle, next_period_start, status, auto_finalize, lines, paused_at, created_at, updated_at) \
         SELECT gen_random_uuid(), $1, cl.a[i], 'Managed services ' || i, $2, \
           CASE WHEN bench_r(i + $6, 31) < 0.8 THEN 'months' ELSE 'years' END, 1, sd, 0, sd, \
           CASE WHEN bench_r(i + $6, 32) < 0.1 THEN 'paused' ELSE 'active' END, true, \
           jsonb_build_array(jsonb_build_object('description', 'Managed services', \
             'quantity', (1 + floor(20 * bench_r(i + $6, 33)))::text, \
             'unit_price', round(((20 + 80 * bench_r(i + $6, 34)) * $4)::numeric, $5)::text, 'tax_rate_ids', '[]'::jsonb)), \
           CASE WHEN bench_r(i + $6, 32) < 0.1 THEN (greatest(sd + 1, $3::date - 30) + time '12:00') AT TIME ZONE 'UTC' END, $7, $7 \
         FROM generate_series(1, 100) i, \
           LATERAL (SELECT $3::date - 720 + floor(700 * bench_r(i + $6, 30))::int AS sd) s, \
           (SELECT array_agg(id ORDER BY name) a FROM clients WHERE company_id = $1) cl",
    )
    .bind(c.id)
    .bind(currency)
    .bind(now.date_naive())
    .bind(scale)
    .bind(digits)
    .bind(t as i64 * 1_000_000_000 + 900_000_000)
    .bind(since)
    .execute(&mut *conn)
    .await
    .expect("recurring templates");
    let top_client: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM clients WHERE company_id = $1 ORDER BY name LIMIT 1")
            .bind(c.id)
            .fetch_one(&mut *conn)
            .await
            .expect("top client");
    Tenant {
        index: t,
        id: c.id,
        tz,
        currency,
        digits,
        scale,
        tax,
        tax_id,
        admin,
        top_client,
    }
}

/// The company's local date at `now`.
async fn local_today(conn: &mut sqlx::PgConnection, t: &Tenant, now: DateTime<Utc>) -> NaiveDate {
    sqlx::query_scalar("SELECT ($1::timestamptz AT TIME ZONE $2)::date")
        .bind(now)
        .bind(t.tz)
        .fetch_one(conn)
        .await
        .expect("today")
}

/// Random keys: tickets at t × 10⁹, invoices at t × 10⁹ + 5 × 10⁸, the new
/// day's 10⁸ above each.
fn key(t: &Tenant, invoices: bool, day: bool) -> i64 {
    t.index as i64 * 1_000_000_000
        + if invoices { 500_000_000 } else { 0 }
        + if day { 100_000_000 } else { 0 }
}

#[allow(clippy::too_many_arguments)]
async fn insert_tickets(
    conn: &mut sqlx::PgConnection,
    t: &Tenant,
    n: i64,
    now: DateTime<Utc>,
    from: DateTime<Utc>,
    window_secs: f64,
    exponent: f64,
    number_offset: i64,
    day: bool,
) {
    sqlx::query(TICKETS_SQL)
        .bind(t.id)
        .bind(n)
        .bind(now)
        .bind(key(t, false, day))
        .bind(from)
        .bind(window_secs)
        .bind(exponent)
        .bind(number_offset)
        .execute(&mut *conn)
        .await
        .expect("tickets");
}

#[allow(clippy::too_many_arguments)]
async fn insert_invoices(
    conn: &mut sqlx::PgConnection,
    t: &Tenant,
    n: i64,
    today: NaiveDate,
    first: NaiveDate,
    window_days: i32,
    exponent: f64,
    number_offset: i64,
    now: DateTime<Utc>,
    day: bool,
) {
    sqlx::query(INVOICES_SQL)
        .bind(t.id)
        .bind(n)
        .bind(today)
        .bind(key(t, true, day))
        .bind(t.currency)
        .bind(t.digits)
        .bind(t.scale)
        .bind(t.tax)
        .bind(t.tax_id)
        .bind(first)
        .bind(window_days)
        .bind(exponent)
        .bind(number_offset)
        .bind(now)
        .execute(&mut *conn)
        .await
        .expect("invoices");
}

/// The two years of tickets and invoices, on two connections; returns each
/// tenant's (tickets, invoices) generation times.
async fn generate(
    owner: &sqlx::PgPool,
    tenants: &[Tenant],
    sizes: &Sizes,
    now: DateTime<Utc>,
) -> Vec<(Duration, Duration)> {
    let next = Arc::new(AtomicUsize::new(0));
    let list = Arc::new(tenants.to_vec());
    let mut handles = Vec::new();
    for _ in 0..CONCURRENCY {
        let (owner, next, list) = (owner.clone(), next.clone(), list.clone());
        let (tickets, invoices) = (sizes.tickets, sizes.invoices);
        handles.push(tokio::spawn(async move {
            let mut conn = owner.acquire().await.expect("conn");
            sqlx::query("SET synchronous_commit = off")
                .execute(&mut *conn)
                .await
                .expect("set");
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(t) = list.get(i) else { break };
                let today = local_today(&mut conn, t, now).await;
                let t0 = Instant::now();
                insert_tickets(
                    &mut conn,
                    t,
                    tickets,
                    now,
                    now - chrono::Duration::days(DAYS),
                    (DAYS * 86_400) as f64,
                    0.85,
                    0,
                    false,
                )
                .await;
                let t1 = Instant::now();
                insert_invoices(
                    &mut conn,
                    t,
                    invoices,
                    today,
                    today - chrono::Duration::days(DAYS - 1),
                    DAYS as i32,
                    0.85,
                    0,
                    now,
                    false,
                )
                .await;
                out.push((i, t1 - t0, t1.elapsed()));
            }
            out
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.expect("generator"));
    }
    all.sort_by_key(|(i, ..)| *i);
    all.into_iter().map(|(_, a, b)| (a, b)).collect()
}

struct Day {
    /// Per tenant.
    tickets: i64,
    invoices: i64,
    /// Over all tenants.
    resolved: u64,
    paid_old: u64,
}

/// A day's worth (1/730) of new data per tenant, from `prev` to `now`.
async fn new_day(
    owner: &sqlx::PgPool,
    tenants: &[Tenant],
    sizes: &Sizes,
    prev: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Day {
    let tickets = (sizes.tickets + DAYS / 2) / DAYS;
    let invoices = (sizes.invoices + DAYS / 2) / DAYS;
    let mut resolved = 0;
    let mut paid_old = 0;
    for t in tenants {
        let mut conn = owner.acquire().await.expect("conn");
        let today = local_today(&mut conn, t, now).await;
        insert_tickets(
            &mut conn,
            t,
            tickets,
            now,
            prev,
            86_400.0,
            1.0,
            sizes.tickets,
            true,
        )
        .await;
        resolved += sqlx::query(RESOLVE_SQL)
            .bind(t.id)
            .bind(30_i64)
            .bind(prev)
            .bind(key(t, false, true))
            .bind(now)
            .execute(&mut *conn)
            .await
            .expect("resolve")
            .rows_affected();
        insert_invoices(
            &mut conn,
            t,
            invoices,
            today,
            today,
            1,
            1.0,
            sizes.invoices,
            now,
            true,
        )
        .await;
        paid_old += sqlx::query(PAY_OLD_SQL)
            .bind(t.id)
            .bind(today)
            .bind(10_i64)
            .bind(now)
            .execute(&mut *conn)
            .await
            .expect("pay old")
            .rows_affected();
    }
    Day {
        tickets,
        invoices,
        resolved,
        paid_old,
    }
}

/// Aggregates every tenant, `CONCURRENCY` at a time, each in its own
/// tenant transaction as the job does; returns the wall time and each
/// tenant's time and summary.
async fn aggregate_all(
    db: &Db,
    tenants: &[Tenant],
    mode: AggregateMode,
) -> (Duration, Vec<(Duration, AggregateSummary)>) {
    let next = Arc::new(AtomicUsize::new(0));
    let ids: Arc<Vec<TenantId>> = Arc::new(tenants.iter().map(|t| t.id).collect());
    let started = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..CONCURRENCY {
        let (db, next, ids) = (db.clone(), next.clone(), ids.clone());
        handles.push(tokio::spawn(async move {
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(id) = ids.get(i).copied() else { break };
                let t0 = Instant::now();
                let mut tx = db.tenant(id).await.expect("tenant tx");
                let s = reports::aggregate(&mut tx, None, mode)
                    .await
                    .expect("aggregate");
                tx.commit().await.expect("commit");
                out.push((i, t0.elapsed(), s));
            }
            out
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.expect("aggregator"));
    }
    let took = started.elapsed();
    all.sort_by_key(|(i, ..)| *i);
    (took, all.into_iter().map(|(_, d, s)| (d, s)).collect())
}

fn print_runs(
    label: &str,
    tenants: &[Tenant],
    took: Duration,
    runs: &[(Duration, AggregateSummary)],
) {
    let (slow_i, (slow_d, slow)) = runs
        .iter()
        .enumerate()
        .max_by_key(|(_, (d, _))| *d)
        .expect("runs");
    let changed: Vec<usize> = runs.iter().map(|(_, s)| s.changed_days).collect();
    println!(
        "{label}: {} tenants in {:.2} s with concurrency {CONCURRENCY}; slowest tenant {slow_i} ({}) {:.2} s, \
         mean {:.2} s; changed_days consumed: {} in all ({}..{} per tenant)",
        runs.len(),
        secs(took),
        tenants[slow_i].tz,
        secs(*slow_d),
        runs.iter().map(|(d, _)| secs(*d)).sum::<f64>() / runs.len() as f64,
        changed.iter().sum::<usize>(),
        changed.iter().min().copied().unwrap_or(0),
        changed.iter().max().copied().unwrap_or(0),
    );
    println!(
        "  {:<22} {:>12} {:>8} {:>14} {:>12}",
        "report", "mode", "periods", "slowest tenant", "all tenants"
    );
    for (k, r) in slow.reports.iter().enumerate() {
        let sum: u64 = runs.iter().map(|(_, s)| s.reports[k].duration_ms).sum();
        println!(
            "  {:<22} {:>12} {:>8} {:>11} ms {:>9} ms",
            r.report.as_str(),
            r.mode,
            r.periods,
            r.duration_ms,
            sum
        );
    }
}

/// Asserts the snapshots agree with the tables they were computed from.
async fn check(owner: &sqlx::PgPool, tenants: &[Tenant], want_tickets: i64, label: &str) {
    for t in tenants {
        let (daily, weekly, backlog, tickets, open): (i64, i64, i64, i64, i64) = sqlx::query_as(
            "SELECT \
               (SELECT COALESCE(sum((data->>'opened')::bigint), 0)::bigint FROM report_rows \
                WHERE company_id = $1 AND report = 'ticket_volume_daily'), \
               (SELECT COALESCE(sum((data->>'opened')::bigint), 0)::bigint FROM report_rows \
                WHERE company_id = $1 AND report = 'ticket_volume_weekly'), \
               (SELECT (data->>'backlog')::bigint FROM report_rows \
                WHERE company_id = $1 AND report = 'ticket_volume_daily' ORDER BY period DESC LIMIT 1), \
               (SELECT count(*) FROM tickets WHERE company_id = $1), \
               (SELECT count(*) FROM tickets WHERE company_id = $1 AND resolved_at IS NULL)",
        )
        .bind(t.id)
        .fetch_one(owner)
        .await
        .expect("ticket check");
        assert_eq!(tickets, want_tickets, "{label}: tenant {} tickets", t.index);
        assert_eq!(
            daily, want_tickets,
            "{label}: tenant {} daily opened",
            t.index
        );
        assert_eq!(
            weekly, want_tickets,
            "{label}: tenant {} weekly opened",
            t.index
        );
        assert_eq!(backlog, open, "{label}: tenant {} backlog", t.index);
        let (rows, invoiced_ok, invoiced, truth, outstanding_ok, outstanding, owed): (
            i64,
            bool,
            String,
            String,
            bool,
            String,
            String,
        ) = sqlx::query_as(
            "WITH r AS (SELECT period, data FROM report_rows WHERE company_id = $1 AND report = 'finance_summary'), \
             i AS (SELECT COALESCE(sum(total), 0) total, COALESCE(sum(total - amount_paid), 0) owed \
                   FROM invoices WHERE company_id = $1 AND status NOT IN ('draft', 'void')), \
             rs AS (SELECT count(*) n, COALESCE(sum((data->>'invoiced')::numeric), 0) invoiced, \
                      (SELECT (data->>'outstanding')::numeric FROM r ORDER BY period DESC LIMIT 1) outstanding FROM r) \
             SELECT rs.n, rs.invoiced = i.total, rs.invoiced::text, i.total::text, \
                    rs.outstanding = i.owed, COALESCE(rs.outstanding::text, 'none'), i.owed::text FROM rs, i",
        )
        .bind(t.id)
        .fetch_one(owner)
        .await
        .expect("finance check");
        assert!(
            rows > 0,
            "{label}: tenant {} has no finance_summary rows",
            t.index
        );
        assert!(
            invoiced_ok,
            "{label}: tenant {} invoiced {invoiced} <> {truth}",
            t.index
        );
        assert!(
            outstanding_ok,
            "{label}: tenant {} outstanding {outstanding} <> {owed}",
            t.index
        );
    }
    println!(
        "checks:      {label}: every tenant's daily and weekly opened = {want_tickets}, backlog = unresolved tickets, \
         finance_summary invoiced and outstanding = the invoices'"
    );
}

/// A read's first page, as the handler asks for it by default.
fn paged(q: ReportQuery) -> ReportQuery {
    ReportQuery {
        page: Some(nestogy_domain::kernel::pagination::PageRequest::first(
            reports::DEFAULT_ROWS,
        )),
        ..q
    }
}

/// What one round of reads asks for, per tenant: every report with its
/// default range, a year of daily volume, and one client's revenue.
fn read_list(tenants: &[Tenant], today: NaiveDate) -> Vec<(usize, ReportName, ReportQuery)> {
    let mut out = Vec::new();
    for (i, t) in tenants.iter().enumerate() {
        for r in ReportName::ALL {
            out.push((i, *r, paged(ReportQuery::default())));
        }
        out.push((
            i,
            ReportName::TicketVolumeDaily,
            paged(ReportQuery {
                from: Some(today - chrono::Duration::days(364)),
                to: Some(today),
                ..Default::default()
            }),
        ));
        out.push((
            i,
            ReportName::RevenueByClient,
            paged(ReportQuery {
                client_id: Some(ClientId(t.top_client)),
                ..Default::default()
            }),
        ));
    }
    out
}

fn uri(name: ReportName, q: &ReportQuery) -> String {
    let mut params = Vec::new();
    if let Some(f) = q.from {
        params.push(format!("from={f}"));
    }
    if let Some(t) = q.to {
        params.push(format!("to={t}"));
    }
    if let Some(c) = q.client_id {
        params.push(format!("client_id={c}"));
    }
    let mut u = format!("/api/v1/reports/{}", name.as_str());
    if !params.is_empty() {
        u.push('?');
        u.push_str(&params.join("&"));
    }
    u
}

/// The nearest-rank `p` quantile of sorted durations.
fn rank(v: &[Duration], p: f64) -> Duration {
    v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1]
}

/// Prints and returns p99 (ms).
fn latencies(label: &str, mut v: Vec<Duration>) -> f64 {
    v.sort();
    println!(
        "reads:       {label}: {} reads, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, mean {:.2} ms",
        v.len(),
        ms(rank(&v, 0.5)),
        ms(rank(&v, 0.99)),
        ms(*v.last().expect("reads")),
        v.iter().map(|d| ms(*d)).sum::<f64>() / v.len() as f64
    );
    ms(rank(&v, 0.99))
}

/// Reads every report of every tenant, one at a time, through the router
/// and through `reports::read`; returns both p99s in ms.
async fn reads(
    db: &Db,
    ctx: nestogy_jobs::JobContext,
    tenants: &[Tenant],
    clock: &ManualClock,
) -> (f64, f64) {
    use nestogy_domain::kernel::clock::Clock;
    let now = clock.now();
    let jwt = nestogy_api::JwtKeys::new(
        b"benchmark secret that is long enough for hs256",
        chrono::Duration::days(30),
    );
    let tokens: Vec<String> = tenants
        .iter()
        .map(|t| {
            jwt.issue(t.id, UserId(t.admin), Role::Admin, 0, now)
                .expect("token")
        })
        .collect();
    let state = nestogy_api::AppState::new(ctx, jwt, nestogy_api::middleware::metrics_handle());
    let router = nestogy_api::app(state);
    // Every tenant's local date is the same here (the clock is at noon UTC).
    let today = now.date_naive();
    let list = read_list(tenants, today);

    // Per kind of read (the position in a tenant's list): latencies, and
    // rows and bytes summed.
    let per_tenant = list.len() / tenants.len();
    let mut kinds: Vec<(Vec<Duration>, usize, usize)> = vec![(Vec::new(), 0, 0); per_tenant];
    let mut http = Vec::with_capacity(list.len() * READ_ROUNDS);
    for round in 0..=READ_ROUNDS {
        for (k, (i, name, q)) in list.iter().enumerate() {
            let req = Request::builder()
                .uri(uri(*name, q))
                .header("authorization", format!("Bearer {}", tokens[*i]))
                .body(Body::empty())
                .expect("request");
            let t0 = Instant::now();
            let resp = router.clone().oneshot(req).await.expect("router");
            let status = resp.status();
            let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .expect("body");
            let took = t0.elapsed();
            assert_eq!(
                status,
                StatusCode::OK,
                "{}: {}",
                name.as_str(),
                String::from_utf8_lossy(&body)
            );
            let kind = &mut kinds[k % per_tenant];
            if round == 0 {
                // Round 0 warms the pool's connections and the caches; its
                // answers are counted and checked, not timed.
                let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
                let n = v["rows"].as_array().map(Vec::len).unwrap_or(0);
                if q.from.is_some() {
                    assert_eq!(n, 365, "a year of daily volume");
                }
                kind.1 += n;
                kind.2 += body.len();
            } else {
                http.push(took);
                kind.0.push(took);
            }
        }
    }
    println!(
        "  {:<34} {:>6} {:>8} {:>8} {:>8} {:>8}",
        "read (per tenant)", "rows", "KB", "p50 ms", "p99 ms", "max ms"
    );
    for (k, (times, rows, bytes)) in kinds.iter_mut().enumerate() {
        times.sort();
        let (_, name, q) = &list[k];
        let label = if q.from.is_some() {
            format!("{} (365 days)", name.as_str())
        } else if q.client_id.is_some() {
            format!("{} (one client)", name.as_str())
        } else {
            name.as_str().to_owned()
        };
        println!(
            "  {:<34} {:>6} {:>8.1} {:>8.2} {:>8.2} {:>8.2}",
            label,
            *rows / tenants.len(),
            *bytes as f64 / tenants.len() as f64 / 1024.0,
            ms(rank(times, 0.5)),
            ms(rank(times, 0.99)),
            ms(*times.last().expect("reads"))
        );
    }
    let http_p99 = latencies("HTTP GET /api/v1/reports/{name} (in-process router)", http);

    let mut domain = Vec::with_capacity(list.len() * READ_ROUNDS);
    for _ in 0..READ_ROUNDS {
        for (i, name, q) in &list {
            let t0 = Instant::now();
            let mut tx = db.tenant(tenants[*i].id).await.expect("tenant tx");
            let data = reports::read(&mut tx, *name, q).await.expect("read");
            tx.end_read();
            domain.push(t0.elapsed());
            assert!(data.computed_at.is_some(), "{} computed", name.as_str());
        }
    }
    let domain_p99 = latencies("reports::read in a tenant transaction", domain);
    (http_p99, domain_p99)
}
