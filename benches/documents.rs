//! Documents end to end: finalized invoices rendered to PDF and stored by
//! render jobs through the queue (view read from PostgreSQL, typst render on
//! a blocking thread, write to the object store, rendering recorded).
//! Prints renders/s and the p50/p99 of a job's run time.
//! `INVOICES=2000 WORKERS=1 cargo bench --bench documents`.

use std::time::{Duration, Instant};

#[path = "support/mod.rs"]
mod support;

use nestogy_domain::company;
use nestogy_domain::documents::DocRef;
use nestogy_jobs::documents::Render;
use support::env_or;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}

async fn count(owner: &sqlx::PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(owner)
        .await
        .expect("count")
}

async fn run() {
    let total: i64 = env_or("INVOICES", "2000").parse().expect("INVOICES");
    let workers: usize = env_or("WORKERS", "1").parse().expect("WORKERS");
    let (owner, dbh) = support::fresh_database("nestogy_bench_documents").await;

    // One tenant, one client, `total` finalized invoices of three lines each.
    let mut conn = owner.acquire().await.expect("conn");
    let (c, _) = company::create_or_get(&mut conn, "Bench MSP", "Europe/Berlin", "EUR", chrono::Utc::now())
        .await
        .expect("company");
    sqlx::query("DELETE FROM schedules").execute(&mut *conn).await.expect("schedules");
    let client = uuid::Uuid::now_v7();
    sqlx::query("INSERT INTO clients (id, company_id, name, created_at, updated_at) VALUES ($1, $2, 'Zürich Datacenter AG', now(), now())")
        .bind(client)
        .bind(c.id)
        .execute(&mut *conn)
        .await
        .expect("client");
    sqlx::query(
        "INSERT INTO invoices (id, company_id, client_id, number, status, currency, issue_date, due_date, \
         subtotal, discount_total, tax_total, total, finalized_at, created_at, updated_at) \
         SELECT gen_random_uuid(), $1, $2, 'INV-2026-' || lpad(i::text, 6, '0'), 'sent', 'EUR', '2026-03-01', '2026-03-31', \
                300, 0, 57, 357, now(), now(), now() FROM generate_series(1, $3) i",
    )
    .bind(c.id)
    .bind(client)
    .bind(total)
    .execute(&mut *conn)
    .await
    .expect("invoices");
    sqlx::query(
        "INSERT INTO invoice_lines (id, company_id, invoice_id, position, description, quantity, unit_price, taxes, \
         gross, discount_amount, net, tax, total) \
         SELECT gen_random_uuid(), i.company_id, i.id, p, 'Managed service ' || p, 1, 100, \
                '[{\"tax_rate_id\": \"01a214c1-0000-7000-8000-000000000000\", \"name\": \"VAT\", \"percent\": \"19\", \"inclusive\": false, \"compound\": false, \"amount\": \"19\"}]'::jsonb, \
                100, 0, 100, 19, 119 FROM invoices i CROSS JOIN generate_series(1, 3) p",
    )
    .execute(&mut *conn)
    .await
    .expect("lines");
    drop(conn);
    sqlx::query("ANALYZE").execute(&owner).await.expect("analyze");
    let ids: Vec<nestogy_domain::InvoiceId> = sqlx::query_scalar("SELECT id FROM invoices ORDER BY id")
        .fetch_all(&owner)
        .await
        .expect("ids");
    println!("seeded {} finalized invoices", ids.len());

    let ctx = support::job_context(dbh.clone(), "nestogy_bench_documents").await;
    // Warm up: fonts load, templates compile once per process.
    nestogy_jobs::documents::ensure_rendered(&ctx, c.id, &DocRef::Invoice { id: ids[0] })
        .await
        .expect("warm-up render");
    let jobs: Vec<Render> = ids[1..]
        .iter()
        .map(|id| Render {
            tenant: c.id,
            doc: DocRef::Invoice { id: *id },
        })
        .collect();
    let (stop, handles) = support::start_workers(&ctx, workers);
    let started = Instant::now();
    for chunk in jobs.chunks(1000) {
        nestogy_jobs::enqueue_many(&ctx, chunk).await.expect("enqueue");
    }
    let deadline = Instant::now() + Duration::from_secs(900);
    loop {
        let n = count(&owner, "SELECT count(*) FROM documents").await;
        if n >= total {
            break;
        }
        assert!(Instant::now() < deadline, "rendering did not finish: {n} of {total}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took = started.elapsed();
    let (p50, p99): (f64, f64) = sqlx::query_as(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms), percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) \
         FROM (SELECT extract(epoch FROM finished_at - started_at) * 1000 AS ms FROM jobs \
               WHERE kind = 'documents.render' AND state = 'succeeded') j",
    )
    .fetch_one(&owner)
    .await
    .expect("percentiles");
    let bytes = count(&owner, "SELECT COALESCE(sum(size_bytes), 0)::bigint FROM documents").await;
    println!(
        "documents:   {} invoices rendered and stored through the queue in {:.2} s = {:.0} PDFs/s \
         with {workers} worker runtime(s); job run time p50 {p50:.2} ms, p99 {p99:.2} ms; {:.1} KiB per PDF",
        jobs.len(),
        took.as_secs_f64(),
        jobs.len() as f64 / took.as_secs_f64(),
        bytes as f64 / total as f64 / 1024.0
    );
    support::finish(&ctx, stop, handles).await;
}
