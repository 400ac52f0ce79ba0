//! Billing benchmark: 100,000 due monthly templates across 10 tenants,
//! billed to completion (each invoice priced, numbered and finalized) by the
//! worker runtime in this process, or by `PROCESSES` processes of the real
//! binary (`nestogy worker`). Prints invoices/s, the wall time, and the
//! deadlocks PostgreSQL counted, chunk attempts that failed and chunks that
//! died. `TEMPLATES=100000 TENANTS=10 WORKERS=1 cargo bench --bench billing`;
//! `PROCESSES=2 cargo bench --bench billing`.

use std::time::{Duration, Instant};

#[path = "support/mod.rs"]
mod support;

use nestogy_domain::identity::company;
use nestogy_jobs::enqueue;
use support::env_or;

fn main() {
    support::block_on(run());
}

async fn run() {
    let total: i64 = env_or("TEMPLATES", "100000").parse().expect("TEMPLATES");
    let tenants: i64 = env_or("TENANTS", "10").parse().expect("TENANTS");
    let workers: usize = env_or("WORKERS", "1").parse().expect("WORKERS");
    let (owner, dbh) = support::fresh_database("nestogy_bench_billing").await;

    // Seed: per tenant one client, one 19 % tax and total/tenants templates
    // monthly from 2026-01-01, each due for its first period.
    let now = chrono::Utc::now();
    let per = total / tenants;
    let mut ids = Vec::new();
    let seed_started = Instant::now();
    for t in 0..tenants {
        let mut conn = owner.acquire().await.expect("conn");
        let (c, _) = company::create_or_get(
            &mut conn,
            &format!("Bench tenant {t}"),
            "Europe/Berlin",
            "EUR",
            now,
        )
        .await
        .expect("company");
        sqlx::query("DELETE FROM schedules")
            .execute(&mut *conn)
            .await
            .expect("no schedules");
        let client = uuid::Uuid::now_v7();
        let tax = uuid::Uuid::now_v7();
        sqlx::query("INSERT INTO clients (id, company_id, name, created_at, updated_at) VALUES ($1, $2, 'Client', now(), now())")
            .bind(client)
            .bind(c.id)
            .execute(&mut *conn)
            .await
            .expect("client");
        sqlx::query("INSERT INTO tax_rates (id, company_id, name, percent, created_at, updated_at) VALUES ($1, $2, 'VAT', 19, now(), now())")
            .bind(tax)
            .bind(c.id)
            .execute(&mut *conn)
            .await
            .expect("tax");
        sqlx::query(
            "INSERT INTO recurring_invoices (id, company_id, client_id, name, currency, frequency_unit, frequency_every, \
             start_date, next_cycle, next_period_start, status, auto_finalize, lines, created_at, updated_at) \
             SELECT gen_random_uuid(), $1, $2, 'Template ' || i, 'EUR', 'months', 1, '2026-01-01', 0, '2026-01-01', \
                    'active', true, jsonb_build_array(jsonb_build_object('description', 'Managed services', \
                    'quantity', '1', 'unit_price', (50 + i % 100)::text, 'tax_rate_ids', jsonb_build_array($3::text))), now(), now() \
             FROM generate_series(1, $4) i",
        )
        .bind(c.id)
        .bind(client)
        .bind(tax.to_string())
        .bind(per)
        .execute(&mut *conn)
        .await
        .expect("templates");
        ids.push(c.id);
    }
    sqlx::query("ANALYZE")
        .execute(&owner)
        .await
        .expect("analyze");
    println!(
        "seeded {} templates across {tenants} tenants in {:.1} s",
        per * tenants,
        seed_started.elapsed().as_secs_f64()
    );

    let ctx = support::job_context(dbh.clone(), "nestogy_bench_billing").await;
    let processes: usize = env_or("PROCESSES", "0").parse().expect("PROCESSES");
    let deadlocks_before = deadlocks(&owner).await;
    let (stop, handles) = support::start_workers(&ctx, if processes > 0 { 0 } else { workers });
    let mut children: Vec<std::process::Child> = (0..processes)
        .map(|i| {
            let log = std::env::temp_dir().join(format!("nestogy-bench-billing-worker-{i}.log"));
            let file = std::fs::File::create(&log).expect("worker log");
            std::process::Command::new(env!("CARGO_BIN_EXE_nestogy"))
                .arg("worker")
                .env(
                    "DATABASE_URL",
                    support::database_url("nestogy_bench_billing"),
                )
                .env("REDIS_URL", env_or("REDIS_URL", "redis://127.0.0.1:6379"))
                .env("NESTOGY_REDIS_PREFIX", ctx.queue.prefix())
                .env("RUST_LOG", "warn")
                .stdout(file.try_clone().expect("log"))
                .stderr(file)
                .spawn()
                .expect("start nestogy worker")
        })
        .collect();
    let runtimes = if processes > 0 {
        format!("{processes} worker process(es)")
    } else {
        format!("{workers} worker runtime(s) in this process")
    };

    let started = Instant::now();
    for t in &ids {
        let job = nestogy_jobs::billing::Run {
            tenant: *t,
            as_of: Some(chrono::NaiveDate::from_ymd_opt(2026, 1, 1).expect("date")),
            manual: true,
        };
        enqueue(&ctx, &job).await.expect("enqueue");
    }
    let want = per * tenants;
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        let n = support::count(
            &owner,
            "SELECT count(*) FROM invoices WHERE status = 'sent'",
        )
        .await;
        if n >= want {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "billing did not finish: {n} of {want}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = started.elapsed();
    let dupes = support::count(&owner, "SELECT count(*) FROM (SELECT recurring_id, period_start FROM invoices GROUP BY 1, 2 HAVING count(*) > 1) d").await;
    let gaps = support::count(
        &owner,
        "SELECT count(*) FROM (SELECT company_id, count(*) AS n, max(split_part(number, '-', 3)::int) AS top \
         FROM invoices GROUP BY company_id) s WHERE n <> top",
    )
    .await;
    println!(
        "billing:     {want} invoices in {:.2} s = {:.0} invoices/s with {runtimes} ({dupes} duplicates, {gaps} tenants with gaps)",
        took.as_secs_f64(),
        want as f64 / took.as_secs_f64()
    );
    for c in &mut children {
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status();
        let _ = c.wait();
    }
    support::finish(&ctx, stop, handles).await;
    // Backends report their counts when they go idle, within a second.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let seen = deadlocks(&owner).await - deadlocks_before;
    let failed = support::count(
        &owner,
        "SELECT count(*) FROM jobs WHERE kind = 'billing.bill' AND attempts > 1",
    )
    .await;
    let dead = support::count(
        &owner,
        "SELECT count(*) FROM jobs WHERE kind = 'billing.bill' AND state = 'dead'",
    )
    .await;
    println!(
        "contention:  {seen} deadlocks PostgreSQL counted, {failed} chunks needed more than one attempt, {dead} chunks dead"
    );
}

async fn deadlocks(owner: &sqlx::PgPool) -> i64 {
    sqlx::query("SELECT pg_stat_clear_snapshot()")
        .execute(owner)
        .await
        .expect("clear stats snapshot");
    support::count(
        owner,
        "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()",
    )
    .await
}
