//! Sample documents in the shape the templates read, for tests, benchmarks
//! and previews. Every value is an already formatted string (en-US, USD);
//! the numbers add up.
//!
//! The shape, as the templates expect it (`null` where a value is optional):
//!
//! ```json
//! {
//!   "lang": "en",
//!   "labels": { "invoice": "Invoice", "page": "Page", "of": "of", ... },
//!   "company": { "name": "..", "address_lines": [".."], "tax_id": null, "accent": "#1f6feb",
//!                "footer": null, "payment_instructions": null, "logo": "/logo.png" },
//!   "client": { "name": "..", "address_lines": [".."], "tax_id": null },
//!   "document": { "title": "Invoice", "number": "INV-2026-000001", "status_label": "DRAFT",
//!                 "issue_date": "Nov 25, 2026", "due_date": null, "valid_until": null,
//!                 "notes": null, "period_from": null, "period_to": null },
//!   "lines": [ { "description": "..", "quantity": "2", "unit_price": "$10.00",
//!                "tax": "8.25%", "amount": "$20.00" } ],
//!   "totals": [ { "label": "Total", "value": "$21.65", "strong": true } ],
//!   "entries": [ { "date": "..", "description": "..", "debit": "$10.00", "credit": "",
//!                  "balance": "$10.00" } ],
//!   "opening_balance": null, "closing_balance": null
//! }
//! ```
//!
//! `document.issue_date_iso` (`YYYY-MM-DD`) may be added to set the PDF's
//! date exactly; see `Renderer::render`.

use serde_json::{Value, json};

/// The English labels, as `domain::locale::labels(Locale::EnUs)` serializes
/// them (this crate does not depend on the domain crate).
pub fn labels_en() -> Value {
    json!({
        "invoice": "Invoice", "quote": "Quote", "statement": "Statement", "number": "Number",
        "issue_date": "Issue date", "due_date": "Due date", "valid_until": "Valid until",
        "bill_to": "Bill to", "description": "Description", "quantity": "Quantity",
        "unit_price": "Unit price", "tax": "Tax", "amount": "Amount", "subtotal": "Subtotal",
        "discount": "Discount", "tax_total": "Tax", "total": "Total", "paid": "Paid",
        "balance_due": "Balance due", "notes": "Notes",
        "payment_instructions": "Payment instructions", "tax_id": "Tax ID", "page": "Page",
        "of": "of", "period": "Period", "opening_balance": "Opening balance",
        "closing_balance": "Closing balance", "date": "Date", "debit": "Debit",
        "credit": "Credit", "balance": "Balance", "draft": "DRAFT", "void": "VOID",
        "paid_status": "PAID", "overdue": "OVERDUE"
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
        json!({ "label": "Tax", "value": usd(tax), "strong": false }),
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
    let doc = &mut data["document"];
    doc["title"] = json!("Quote");
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
    let doc = &mut data["document"];
    doc["title"] = json!("Statement");
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
