//! Documents end to end: finalized invoices rendered to PDF and stored by
//! render jobs through the queue (view read from PostgreSQL, typst render on
//! a blocking thread, write to the object store, rendering recorded).
//! Prints renders/s and the p50/p99 of a job's run time.
//! `INVOICES=2000 WORKERS=1 cargo bench --bench documents`.

use std::time::{Duration, Instant};

#[path = "support/mod.rs"]
mod support;

use nestogy_domain::billing::documents::DocRef;
use nestogy_domain::identity::company;
use nestogy_jobs::documents::{Render, RenderMany};
use support::env_or;

fn main() {
    support::block_on(run());
}

async fn run() {
    let total: i64 = env_or("INVOICES", "2000").parse().expect("INVOICES");
    let workers: usize = env_or("WORKERS", "1").parse().expect("WORKERS");
    let (owner, dbh) = support::fresh_database("nestogy_bench_documents").await;

    // One tenant, one client, `total` finalized invoices of three lines each.
    let mut conn = owner.acquire().await.expect("conn");
    let (c, _) = company::create_or_get(
        &mut conn,
        "Bench MSP",
        "Europe/Berlin",
        "EUR",
        chrono::Utc::now(),
    )
    .await
    .expect("company");
    sqlx::query("DELETE FROM schedules")
        .execute(&mut *conn)
        .await
        .expect("schedules");
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
    sqlx::query("ANALYZE")
        .execute(&owner)
        .await
        .expect("analyze");
    let ids: Vec<nestogy_domain::InvoiceId> =
        sqlx::query_scalar("SELECT id FROM invoices ORDER BY id")
            .fetch_all(&owner)
            .await
            .expect("ids");
    println!("seeded {} finalized invoices", ids.len());
    let c_id = c.id;

    let ctx = support::job_context(dbh.clone(), "nestogy_bench_documents").await;
    // Warm up: fonts load, templates compile once per process.
    nestogy_jobs::documents::ensure_rendered(&ctx, c.id, &DocRef::Invoice { id: ids[0] })
        .await
        .expect("warm-up render");
    // The parts, one at a time: reading a view, rendering it.
    let phase = |name: &str, times: &mut Vec<f64>| {
        times.sort_by(f64::total_cmp);
        println!(
            "{name:<12} p50 {:.2} ms, p99 {:.2} ms over {}",
            times[times.len() / 2],
            times[times.len() * 99 / 100],
            times.len()
        );
    };
    let (mut reads, mut renders) = (Vec::new(), Vec::new());
    for id in &ids[1..201] {
        let t0 = Instant::now();
        let mut tx = dbh.tenant(c.id).await.expect("tx");
        let view = nestogy_domain::billing::documents::view(&mut tx, &DocRef::Invoice { id: *id })
            .await
            .expect("view");
        tx.end_read();
        reads.push(t0.elapsed().as_secs_f64() * 1000.0);
        let t1 = Instant::now();
        nestogy_jobs::documents::render(&view)
            .await
            .expect("render");
        renders.push(t1.elapsed().as_secs_f64() * 1000.0);
    }
    phase("view read", &mut reads);
    phase("render", &mut renders);
    let (stop, handles) = support::start_workers(&ctx, workers);
    // The billing path: one documents.render_many job per 50 invoices, for
    // the first half; the API path: one documents.render job per invoice,
    // for the second.
    let half = ids.len() / 2;
    let batched: Vec<RenderMany> = ids[1..half]
        .chunks(50)
        .map(|c| RenderMany {
            tenant: c_id,
            docs: c.iter().map(|id| DocRef::Invoice { id: *id }).collect(),
        })
        .collect();
    let started = Instant::now();
    nestogy_jobs::enqueue_many(&ctx, &batched)
        .await
        .expect("enqueue");
    wait_for(&owner, half as i64).await;
    report(&owner, "render_many", half - 1, started.elapsed(), workers).await;
    let single: Vec<Render> = ids[half..]
        .iter()
        .map(|id| Render {
            tenant: c_id,
            doc: DocRef::Invoice { id: *id },
        })
        .collect();
    let started = Instant::now();
    for chunk in single.chunks(1000) {
        nestogy_jobs::enqueue_many(&ctx, chunk)
            .await
            .expect("enqueue");
    }
    wait_for(&owner, total).await;
    report(&owner, "render", single.len(), started.elapsed(), workers).await;
    support::finish(&ctx, stop, handles).await;
}

async fn wait_for(owner: &sqlx::PgPool, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(900);
    loop {
        let done = support::count(owner, "SELECT count(*) FROM documents").await;
        if done >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "rendering did not finish: {done} of {n}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn report(owner: &sqlx::PgPool, kind: &str, docs: usize, took: Duration, workers: usize) {
    let (p50, p99): (Option<f64>, Option<f64>) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms), percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) \
         FROM (SELECT extract(epoch FROM finished_at - started_at) * 1000 AS ms FROM jobs \
               WHERE kind = 'documents.{kind}' AND state = 'succeeded') j"
    )))
    .fetch_one(owner)
    .await
    .expect("percentiles");
    let bytes = support::count(
        owner,
        "SELECT COALESCE(avg(size_bytes), 0)::bigint FROM documents",
    )
    .await;
    println!(
        "{kind:<12} {docs} invoices rendered and stored through the queue in {:.2} s = {:.0} PDFs/s \
         with {workers} worker runtime(s); job run time p50 {:.2} ms, p99 {:.2} ms; {:.1} KiB per PDF",
        took.as_secs_f64(),
        docs as f64 / took.as_secs_f64(),
        p50.unwrap_or_default(),
        p99.unwrap_or_default(),
        bytes as f64 / 1024.0
    );
}
