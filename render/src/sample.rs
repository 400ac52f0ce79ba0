//! Sample documents in the shape the templates read, for tests, benchmarks
//! and previews. Every value is an already formatted string (en-US, USD);
//! the numbers add up.
//!
//! The shape, as the templates expect it (`null` where a value is optional):
//!
//! ```json
//! {
//!   "lang": "en",
//!   "labels": { "title": "Invoice", "doc_date": "Invoice date", "page": "Page", ... },
//!   "company": { "name": "..", "address_lines": [".."], "tax_id": null, "accent": "#1f6feb",
//!                "footer": null, "payment_instructions": null, "logo": "/logo.png" },
//!   "client": { "name": "..", "address_lines": [".."], "tax_id": null },
//!   "document": { "title": "Invoice", "number": "INV-2026-000001", "status_label": "DRAFT",
//!                 "issue_date": "Nov 25, 2026", "due_date": null, "valid_until": null,
//!                 "service_period": null, "notes": null, "period_from": null,
//!                 "period_to": null, "available_credit": null },
//!   "lines": [ { "description": "..", "quantity": "2", "unit_price": "$10.00",
//!                "discount": "", "tax": "8.25%", "amount": "$20.00" } ],
//!   "line_discounts": false,
//!   "totals": [ { "label": "Total", "value": "$21.65", "strong": true, "note": false } ],
//!   "entries": [ { "date": "..", "description": "..", "debit": "$10.00", "credit": "",
//!                  "balance": "$10.00" } ],
//!   "opening_balance": null, "closing_balance": null
//! }
//! ```
//!
//! `document.issue_date_iso` (`YYYY-MM-DD`) may be added to set the PDF's
//! date exactly; see `Renderer::render`.
//!
//! The management report (`Template::Management`) reads another shape; see
//! [`management_data`].

use serde_json::{Value, json};

/// The English labels of an invoice, as
/// `domain::locale::labels_json(Locale::EnUs, DocKind::Invoice)` serializes
/// them (this crate does not depend on the domain crate).
pub fn labels_en() -> Value {
    json!({
        "number": "Number", "due_date": "Due date", "valid_until": "Valid until",
        "service_period": "Service period", "description": "Description",
        "quantity": "Quantity", "unit_price": "Unit price", "tax": "Tax", "included": "incl.",
        "amount": "Amount", "subtotal": "Subtotal", "discount": "Discount", "total": "Total",
        "includes": "Includes", "paid": "Paid", "credit_applied": "Credit applied",
        "balance_due": "Balance due", "notes": "Notes",
        "payment_instructions": "Payment instructions", "tax_id": "Tax ID", "page": "Page",
        "of": "of", "period": "Period", "opening_balance": "Opening balance",
        "closing_balance": "Closing balance", "available_credit": "Available credit",
        "date": "Date", "debit": "Debit", "credit": "Credit", "balance": "Balance",
        "entry_invoice": "Invoice", "entry_payment": "Payment", "entry_refund": "Refund",
        "entry_credit_applied": "Credit applied to", "draft": "DRAFT", "void": "VOID",
        "paid_status": "PAID", "overdue": "OVERDUE",
        "title": "Invoice", "doc_date": "Invoice date", "recipient": "Bill to"
    })
}

/// `cents` as en-US dollars: `$1,234.56`, `-$5.00`.
pub fn usd(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let c = cents.unsigned_abs();
    let whole = (c / 100).to_string();
    let mut grouped = String::new();
    for (i, ch) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    format!("{sign}${grouped}.{:02}", c % 100)
}

const ITEMS: [&str; 8] = [
    "Managed workstation support",
    "Microsoft 365 Business Premium licence",
    "Firewall monitoring and patching",
    "Backup storage, 500 GB",
    "On-site engineer visit",
    "Endpoint detection and response",
    "Domain renewal",
    "Network switch replacement (24 ports)",
];

fn company() -> Value {
    json!({
        "name": "Acme MSP GmbH",
        "address_lines": ["1 Bahnhofstrasse", "8001 Zürich", "Switzerland"],
        "tax_id": "CHE-123.456.789",
        "accent": "#1f6feb",
        "footer": "Acme MSP GmbH · 1 Bahnhofstrasse, 8001 Zürich · billing@acme-msp.example",
        "payment_instructions": "Bank transfer to IBAN CH93 0076 2011 6238 5295 7, BIC ACMECHZZ, quoting the invoice number.",
        "logo": null
    })
}

fn client() -> Value {
    json!({
        "name": "Globex Corporation",
        "address_lines": ["42 Industrial Way", "Springfield, OR 97477", "United States"],
        "tax_id": null
    })
}

/// Lines and totals (subtotal, tax, total) for `n` lines at 8.25 % tax.
fn lines_and_totals(n: usize) -> (Vec<Value>, Vec<Value>) {
    let mut subtotal = 0i64;
    let mut lines = Vec::with_capacity(n);
    for i in 0..n {
        let qty = (i % 5) as i64 + 1;
        let unit = 1_000 + (i as i64 % 17) * 1_275;
        let amount = qty * unit;
        subtotal += amount;
        lines.push(json!({
            "description": format!("{} (item {})", ITEMS[i % ITEMS.len()], i + 1),
            "quantity": qty.to_string(),
            "unit_price": usd(unit),
            "tax": "8.25%",
            "amount": usd(amount),
        }));
    }
    // 8.25 %, half away from zero.
    let tax = (subtotal * 825 + 5_000) / 10_000;
    let totals = vec![
        json!({ "label": "Subtotal", "value": usd(subtotal), "strong": false }),
        json!({ "label": "Tax 8.25%", "value": usd(tax), "strong": false }),
        json!({ "label": "Total", "value": usd(subtotal + tax), "strong": true }),
    ];
    (lines, totals)
}

/// An invoice with `lines` lines (0 is allowed). About 30 lines fit on the
/// first page, 36 on each following one.
pub fn invoice_data(lines: usize) -> Value {
    let (lines, totals) = lines_and_totals(lines);
    json!({
        "lang": "en",
        "labels": labels_en(),
        "company": company(),
        "client": client(),
        "document": {
            "title": "Invoice",
            "number": "INV-2026-000001",
            "status_label": null,
            "issue_date": "Nov 25, 2026",
            "due_date": "Dec 25, 2026",
            "valid_until": null,
            "notes": "Thank you for your business. Services are billed monthly in advance.",
            "period_from": null,
            "period_to": null
        },
        "lines": lines,
        "totals": totals,
        "entries": [],
        "opening_balance": null,
        "closing_balance": null
    })
}

/// A quote with `lines` lines, valid for 30 days.
pub fn quote_data(lines: usize) -> Value {
    let mut data = invoice_data(lines);
    data["document"]["title"] = json!("Quote");
    data["labels"]["title"] = json!("Quote");
    data["labels"]["doc_date"] = json!("Quote date");
    data["labels"]["recipient"] = json!("Prepared for");
    let doc = &mut data["document"];
    doc["number"] = json!("QUO-2026-000001");
    doc["due_date"] = Value::Null;
    doc["valid_until"] = json!("Dec 25, 2026");
    doc["notes"] =
        json!("Prices are valid until the date above. Hardware subject to availability.");
    data["company"]["payment_instructions"] = Value::Null;
    data
}

/// A statement of account with `entries` entries between the opening and
/// closing balances.
pub fn statement_data(entries: usize) -> Value {
    let opening = 125_000i64;
    let mut balance = opening;
    let mut rows = Vec::with_capacity(entries);
    for i in 0..entries {
        let day = 1 + i * 29 / entries.max(1);
        let (desc, debit, credit) = if i % 3 == 2 {
            let paid = 50_000 + (i as i64 % 7) * 1_000;
            balance -= paid;
            (
                format!("Payment received, thank you (ref. PAY-{:05})", i + 1),
                String::new(),
                usd(paid),
            )
        } else {
            let billed = 21_650 + (i as i64 % 11) * 3_300;
            balance += billed;
            (
                format!("Invoice INV-2026-{:06}", i + 1),
                usd(billed),
                String::new(),
            )
        };
        rows.push(json!({
            "date": format!("Nov {day}, 2026"),
            "description": desc,
            "debit": debit,
            "credit": credit,
            "balance": usd(balance),
        }));
    }
    let mut data = invoice_data(0);
    data["document"]["title"] = json!("Statement");
    data["labels"]["title"] = json!("Statement");
    data["labels"]["doc_date"] = json!("Statement date");
    data["labels"]["recipient"] = json!("Customer");
    let doc = &mut data["document"];
    doc["number"] = json!("STM-2026-11-0001");
    doc["issue_date"] = json!("Dec 1, 2026");
    doc["due_date"] = Value::Null;
    doc["notes"] = Value::Null;
    doc["period_from"] = json!("Nov 1, 2026");
    doc["period_to"] = json!("Nov 30, 2026");
    data["totals"] = json!([]);
    data["entries"] = Value::Array(rows);
    data["opening_balance"] = json!(usd(opening));
    data["closing_balance"] = json!(usd(balance));
    data
}

/// `cents` as a plain decimal string, as the management report's chart
/// values are given: `1234.50`, `-5.00`.
fn decimal(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let c = cents.unsigned_abs();
    format!("{sign}{}.{:02}", c / 100, c % 100)
}

/// `part` of `whole` as a percentage with one decimal: `94.0%` (`0.0%` of
/// nothing).
fn percent(part: i64, whole: i64) -> String {
    if whole == 0 {
        return "0.0%".to_owned();
    }
    format!("{:.1}%", part as f64 * 100.0 / whole as f64)
}

/// The change from `before` to `now`: `+4.1% on October`.
fn change(now: i64, before: i64, month: &str) -> String {
    let pct = if before == 0 {
        0.0
    } else {
        (now - before) as f64 * 100.0 / before as f64
    };
    format!("{pct:+.1}% on {month}")
}

/// A monthly management report for November 2026: 6 KPIs, 12 months of
/// finance and MRR, 5 ageing buckets, 13 weeks of tickets, 4 priorities and
/// the 5 top clients. The shape (every list may be empty; `strings`,
/// `notes`, a KPI's `note` and `document.status_label` are optional):
///
/// ```json
/// {
///   "lang": "en", "labels": { .. }, "company": { .. },
///   "document": { "title": "Management report", "number": "MR-2026-11",
///                 "period": "November 2026", "issue_date": "Dec 1, 2026",
///                 "issue_date_iso": "2026-12-01", "currency": "USD" },
///   "kpis": [ { "label": "Invoiced", "value": "$12,345.00", "note": "+4.1% on October" } ],
///   "finance_months": [ { "month": "Dec 25", "invoiced": "1234.50", "collected": "1000.00",
///                         "outstanding": "500.00" } ],
///   "mrr_months": [ { "month": "Dec 25", "mrr": "1000.00" } ],
///   "ageing": [ { "bucket": "Current", "amount": "100.00", "label": "$100.00" } ],
///   "ticket_weeks": [ { "week": "W45", "opened": "10", "resolved": "8" } ],
///   "response_times": [ { "priority": "High", "tickets": "12", "first_response_median": "1h 05m",
///                         "first_response_p90": "3h 10m", "resolution_median": "1d 2h",
///                         "resolution_p90": "3d 4h" } ],
///   "sla": [ { "priority": "High", "met": "10", "breached": "2", "compliance": "83.3%" } ],
///   "top_clients": [ { "client": "Acme Ltd", "revenue": "$1,000.00" } ],
///   "notes": [ "Amounts in USD; .." ],
///   "strings": { "finance_title": "Facturé et encaissé par mois", .. }
/// }
/// ```
///
/// Every displayed value is formatted by the caller. `invoiced`,
/// `collected`, `outstanding`, `mrr`, `amount`, `opened`, `resolved`, `met`
/// and `breached` are plain decimal strings (no grouping, `.` as the
/// decimal point) that the template reads as numbers to draw the charts;
/// `met` and `breached` are shown as given too. `labels` serves only the
/// shared parts (page numbers, tax id); the report's own headings are
/// English unless `strings` overrides them (see `templates/management.typ`
/// for the keys).
pub fn management_data() -> Value {
    const MONTHS: [&str; 12] = [
        "Dec 25", "Jan 26", "Feb 26", "Mar 26", "Apr 26", "May 26", "Jun 26", "Jul 26", "Aug 26",
        "Sep 26", "Oct 26", "Nov 26",
    ];
    const INVOICED_VAR: [i64; 12] = [
        120_000, -80_000, 40_000, 210_000, -30_000, 60_000, -150_000, 90_000, 180_000, -60_000,
        20_000, 140_000,
    ];
    // Collected as per mille of invoiced: payments of earlier invoices make
    // some months collect more than they bill.
    const COLLECTED_PERMILLE: [i64; 12] = [
        1_012, 915, 1_043, 934, 990, 1_021, 903, 1_049, 942, 987, 1_026, 958,
    ];
    const MRR_VAR: [i64; 12] = [
        0, 12_000, -5_000, 20_000, 8_000, -3_000, 15_000, 0, 22_000, -7_000, 10_000, 18_000,
    ];

    let mut outstanding = 5_240_000i64;
    let mut finance = Vec::new();
    let mut mrr_months = Vec::new();
    let (mut invoiced, mut collected, mut mrr) = (Vec::new(), Vec::new(), Vec::new());
    for (i, month) in MONTHS.iter().enumerate() {
        let inv = 3_650_000 + i as i64 * 95_000 + INVOICED_VAR[i];
        let col = inv * COLLECTED_PERMILLE[i] / 1_000;
        let m = 2_840_000 + i as i64 * 48_500 + MRR_VAR[i];
        outstanding += inv - col;
        finance.push(json!({
            "month": month,
            "invoiced": decimal(inv),
            "collected": decimal(col),
            "outstanding": decimal(outstanding),
        }));
        mrr_months.push(json!({ "month": month, "mrr": decimal(m) }));
        invoiced.push(inv);
        collected.push(col);
        mrr.push(m);
    }

    // The last month's outstanding, by age.
    let buckets = [
        ("Current", 55),
        ("1–30 days", 24),
        ("31–60 days", 11),
        ("61–90 days", 6),
        ("Over 90 days", 0),
    ];
    let mut rest = outstanding;
    let mut ageing = Vec::new();
    for (bucket, pct) in buckets {
        let amount = if pct == 0 {
            rest
        } else {
            outstanding * pct / 100
        };
        rest -= amount;
        ageing.push(json!({ "bucket": bucket, "amount": decimal(amount), "label": usd(amount) }));
    }
    let overdue = outstanding - outstanding * 55 / 100;

    const OPENED: [u32; 13] = [42, 38, 51, 47, 44, 39, 55, 48, 41, 46, 52, 43, 49];
    const RESOLVED: [u32; 13] = [40, 41, 47, 49, 42, 40, 50, 51, 43, 44, 50, 46, 47];
    let weeks: Vec<Value> = (0..13)
        .map(|i| {
            json!({
                "week": format!("W{}", 36 + i),
                "opened": OPENED[i].to_string(),
                "resolved": RESOLVED[i].to_string(),
            })
        })
        .collect();

    // (priority, tickets, first response median and p90, resolution median
    // and p90, SLA breaches).
    let priorities = [
        ("Critical", 9, "12m", "28m", "3h 40m", "9h 15m", 0),
        ("High", 34, "38m", "1h 52m", "7h 05m", "1d 4h", 3),
        ("Medium", 112, "1h 45m", "4h 30m", "1d 2h", "3d 1h", 8),
        ("Low", 61, "3h 20m", "9h 10m", "2d 5h", "6d 3h", 2),
    ];
    let response_times: Vec<Value> = priorities
        .iter()
        .map(|p| {
            json!({
                "priority": p.0, "tickets": p.1.to_string(),
                "first_response_median": p.2, "first_response_p90": p.3,
                "resolution_median": p.4, "resolution_p90": p.5,
            })
        })
        .collect();
    let sla: Vec<Value> = priorities
        .iter()
        .map(|p| {
            json!({
                "priority": p.0, "met": (p.1 - p.6).to_string(), "breached": p.6.to_string(),
                "compliance": percent(p.1 - p.6, p.1),
            })
        })
        .collect();
    let tickets: i64 = priorities.iter().map(|p| p.1).sum();
    let breaches: i64 = priorities.iter().map(|p| p.6).sum();

    let top_clients: Vec<Value> = [
        ("Globex Corporation", 962_450),
        ("Initech LLC", 718_000),
        ("Umbrella Health Partners", 654_275),
        ("Stark Logistics AG", 489_900),
        ("Wayne Dental Group", 352_120),
    ]
    .iter()
    .map(|(client, cents)| json!({ "client": client, "revenue": usd(*cents) }))
    .collect();

    let (inv, col, m) = (invoiced[11], collected[11], mrr[11]);
    json!({
        "lang": "en",
        "labels": labels_en(),
        "company": company(),
        "document": {
            "title": "Management report",
            "number": "MR-2026-11",
            "period": "November 2026",
            "issue_date": "Dec 1, 2026",
            "issue_date_iso": "2026-12-01",
            "currency": "USD"
        },
        "kpis": [
            { "label": "Invoiced", "value": usd(inv), "note": change(inv, invoiced[10], "October") },
            { "label": "Collected", "value": usd(col), "note": format!("{} of invoiced", percent(col, inv)) },
            { "label": "Outstanding", "value": usd(outstanding), "note": format!("{} overdue", usd(overdue)) },
            { "label": "MRR", "value": usd(m), "note": change(m, mrr[10], "October") },
            { "label": "Tickets resolved", "value": tickets.to_string(), "note": "Median first response 1h 12m" },
            { "label": "SLA compliance", "value": percent(tickets - breaches, tickets), "note": format!("{breaches} breaches") }
        ],
        "finance_months": finance,
        "mrr_months": mrr_months,
        "ageing": ageing,
        "ticket_weeks": weeks,
        "response_times": response_times,
        "sla": sla,
        "top_clients": top_clients,
        "notes": [
            "Amounts in USD; other currencies are listed in the CSV reports.",
            "Ticket figures cover tickets resolved in November 2026; the weekly chart covers the last 13 ISO weeks."
        ]
    })
}

/// [`management_data`] for a period with nothing in it: every list empty,
/// the KPIs zero and without notes.
pub fn management_data_empty() -> Value {
    let mut data = management_data();
    data["kpis"] = json!([
        { "label": "Invoiced", "value": usd(0), "note": null },
        { "label": "Collected", "value": usd(0), "note": null },
        { "label": "Outstanding", "value": usd(0), "note": null },
        { "label": "MRR", "value": usd(0), "note": null },
        { "label": "Tickets resolved", "value": "0", "note": null },
        { "label": "SLA compliance", "value": percent(0, 0), "note": null }
    ]);
    for key in [
        "finance_months",
        "mrr_months",
        "ageing",
        "ticket_weeks",
        "response_times",
        "sla",
        "top_clients",
        "notes",
    ] {
        data[key] = json!([]);
    }
    data
}

/// A tiny, valid PNG of `width` × `height` pixels of one RGB colour
/// (uncompressed deflate; no image library needed).
pub fn png_logo(width: u32, height: u32, rgb: [u8; 3]) -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = (crc >> 1) ^ (0xEDB8_8320 & (!(crc & 1)).wrapping_add(1));
            }
        }
        !crc
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], body: &[u8]) {
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend_from_slice(kind);
        out.extend_from_slice(body);
        let crc = crc32(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
    }
    // Raw scanlines: filter byte 0, then RGB pixels.
    let mut line = vec![0u8];
    for _ in 0..width {
        line.extend_from_slice(&rgb);
    }
    let raw = line.repeat(height as usize);
    // zlib stream of stored deflate blocks.
    let mut z = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        z.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        z.extend_from_slice(&len.to_le_bytes());
        z.extend_from_slice(&(!len).to_le_bytes());
        z.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in &raw {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    z.extend_from_slice(&((b << 16) | a).to_be_bytes());

    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB, no interlace
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"IDAT", &z);
    chunk(&mut png, b"IEND", &[]);
    png
}

/// A tiny SVG logo: a coloured rounded square with a letter.
pub fn svg_logo() -> Vec<u8> {
    br##"<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40" viewBox="0 0 120 40">
  <rect x="0" y="0" width="40" height="40" rx="8" fill="#1f6feb"/>
  <rect x="48" y="8" width="72" height="8" fill="#0d1117"/>
  <rect x="48" y="24" width="48" height="8" fill="#57606a"/>
</svg>"##
        .to_vec()
}
