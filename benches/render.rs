//! PDF rendering throughput and latency: `cargo bench --bench render`.
//!
//! Renders 1,000 one-page invoices and 100 ten-page invoices, each with its
//! own document number, with 1 and with 2 worker threads sharing one
//! `Arc<Renderer>` (as the workers do), and prints PDFs/s and the p50/p99
//! time per document. Self-contained: no database, no queue.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use nestogy_render::{Renderer, Template, sample};

/// Lines for about ten pages (30 on the first page, 36 on each next one,
/// less the room the totals and notes take).
const TEN_PAGE_LINES: usize = 375;

fn main() {
    let t = Instant::now();
    let renderer = Arc::new(Renderer::new());
    println!(
        "Renderer::new (fonts, templates): {:.1} ms",
        ms(t.elapsed())
    );

    // Warm up: the first render parses the fonts' tables and fills typst's
    // caches.
    let warm = serde_json::to_vec(&sample::invoice_data(5)).expect("sample data");
    let t = Instant::now();
    let pdf = renderer
        .render(Template::Invoice, &warm, None)
        .expect("warm-up render");
    println!(
        "first render: {:.1} ms ({} bytes)",
        ms(t.elapsed()),
        pdf.len()
    );

    let ten = documents(1, TEN_PAGE_LINES).remove(0);
    let pdf = renderer
        .render(Template::Invoice, &ten, None)
        .expect("ten-page render");
    println!(
        "ten-page invoice: {TEN_PAGE_LINES} lines, {} pages",
        pages(&pdf)
    );
    println!();
    println!(
        "{:<34} {:>7} {:>6} {:>9} {:>9} {:>9}",
        "case", "threads", "docs", "PDFs/s", "p50 ms", "p99 ms"
    );

    for threads in [1, 2] {
        run(&renderer, "one-page invoice (5 lines)", 1_000, 5, threads);
        run(
            &renderer,
            "ten-page invoice (375 lines)",
            100,
            TEN_PAGE_LINES,
            threads,
        );
    }
}

/// `count` invoices of `lines` lines, each with its own number.
fn documents(count: usize, lines: usize) -> Vec<Vec<u8>> {
    let template = sample::invoice_data(lines);
    (0..count)
        .map(|i| {
            let mut data = template.clone();
            data["document"]["number"] = format!("INV-2026-{:06}", i + 1).into();
            serde_json::to_vec(&data).expect("sample data")
        })
        .collect()
}

fn run(renderer: &Arc<Renderer>, label: &str, count: usize, lines: usize, threads: usize) {
    let docs = Arc::new(documents(count, lines));
    let next = Arc::new(AtomicUsize::new(0));
    let times = Arc::new(Mutex::new(Vec::with_capacity(count)));

    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (renderer, docs, next, times) =
                (renderer.clone(), docs.clone(), next.clone(), times.clone());
            thread::spawn(move || {
                let mut mine = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(doc) = docs.get(i) else { break };
                    let t = Instant::now();
                    let pdf = renderer
                        .render(Template::Invoice, doc, None)
                        .expect("render");
                    mine.push(t.elapsed());
                    assert!(pdf.starts_with(b"%PDF-"));
                }
                times.lock().expect("times").extend(mine);
            })
        })
        .collect();
    for h in handles {
        h.join().expect("render thread");
    }
    let wall = start.elapsed();

    let mut times = times.lock().expect("times").clone();
    times.sort();
    let pct =
        |p: f64| ms(times[((times.len() as f64 * p).ceil() as usize).clamp(1, times.len()) - 1]);
    println!(
        "{:<34} {:>7} {:>6} {:>9.1} {:>9.2} {:>9.2}",
        label,
        threads,
        count,
        count as f64 / wall.as_secs_f64(),
        pct(0.50),
        pct(0.99)
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

/// Pages in a PDF, from its page tree's `/Count` (as krilla writes it:
/// `/Type/Pages/Count N`); 0 if not found.
fn pages(pdf: &[u8]) -> usize {
    let needle = b"/Type/Pages/Count ";
    pdf.windows(needle.len())
        .position(|w| w == needle)
        .map(|i| {
            pdf[i + needle.len()..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .fold(0, |n, b| n * 10 + usize::from(b - b'0'))
        })
        .unwrap_or(0)
}
