//! Printed documents read back as a reader reads them: rendered through the
//! real code path (`documents::view`, the renderer), turned into text by
//! `pdftotext -layout`, the printed numbers parsed in each locale's format,
//! and added up. Every invoice, quote and statement must add up to what it
//! prints as its total (balance), to the cent, in every locale; and no quote
//! or statement may speak with an invoice's words.

use axum::http::StatusCode;
use nestogy_domain::billing::DocKind;
use nestogy_domain::billing::documents::{self, DocRef, Period};
use nestogy_domain::billing::locale::{self, Locale};
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Value, json};

use crate::common::{Tenant, TestApp, pdf_text};

/// The company's locale and the currency its documents are in.
const LOCALES: [(Locale, &str); 4] = [
    (Locale::EnUs, "USD"),
    (Locale::EnGb, "GBP"),
    (Locale::DeDe, "EUR"),
    (Locale::FrFr, "EUR"),
];

fn d(s: &str) -> Decimal {
    s.parse().expect("decimal")
}

/// A tenant whose documents are in `loc` and `currency`.
async fn company(app: &TestApp, loc: Locale, currency: &str) -> Tenant {
    let t = app.tenant(&format!("Printed {}", loc.tag())).await;
    let r = app
        .patch(
            "/api/v1/company",
            &t.admin,
            json!({"locale": loc.tag(), "currency": currency}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    t
}

/// The PDF of `doc` as its text, rendered as a worker renders it.
async fn printed(app: &TestApp, t: &Tenant, doc: DocRef) -> String {
    let mut tx = app.db.tenant(t.id).await.expect("tx");
    let view = documents::view(&mut tx, &doc).await.expect("view");
    drop(tx);
    let pdf = nestogy_jobs::documents::render(&view)
        .await
        .expect("render");
    let (text, _) = pdf_text(&pdf);
    // No-break and narrow no-break spaces read as spaces.
    text.replace(['\u{a0}', '\u{202f}'], " ")
}

/// The cells of a `pdftotext -layout` line: runs separated by two or more
/// spaces.
fn cells(line: &str) -> Vec<&str> {
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect()
}

/// A number as `loc` writes it ("1,234.5", "1.234,5", "1 234,5").
fn number(s: &str, loc: Locale) -> Option<Decimal> {
    let plain: String = match loc {
        Locale::EnUs | Locale::EnGb => s.replace(',', ""),
        Locale::DeDe => s.replace('.', "").replace(',', "."),
        Locale::FrFr => s.replace(' ', "").replace(',', "."),
    };
    let digits = plain.strip_prefix('-').unwrap_or(&plain);
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return None;
    }
    plain.parse().ok()
}

/// An amount as `loc` prints it in `currency` ("-$1,234.56", "1.234,56 €"),
/// or `None` for a cell that is not one amount.
fn money(cell: &str, loc: Locale, currency: &str) -> Option<Decimal> {
    let symbol = match currency {
        "USD" => "$",
        "GBP" => "£",
        "EUR" => "€",
        other => other,
    };
    let (negative, rest) = match cell.trim().strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, cell.trim()),
    };
    let body = match loc {
        Locale::EnUs | Locale::EnGb => rest.strip_prefix(symbol)?,
        Locale::DeDe | Locale::FrFr => rest.strip_suffix(symbol)?.trim_end(),
    };
    let x = number(body, loc)?;
    Some(if negative { -x } else { x })
}

fn cents(x: Decimal) -> Decimal {
    x.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// What an invoice or a quote prints, checked line by line: each line's
/// quantity × unit price less its discount is its amount; the amounts add
/// up to the subtotal; subtotal − discount + each added tax is the total;
/// on invoices, total − paid − credit applied is the balance due. Returns
/// the printed total and the number of lines read.
fn check_priced(text: &str, kind: DocKind, loc: Locale, currency: &str) -> (Decimal, usize) {
    let labels = locale::labels(loc);
    let m = |c: &str| money(c, loc, currency);
    let lines: Vec<&str> = text.lines().collect();
    let mut sum = Decimal::ZERO;
    let mut count = 0;
    let mut last_item = 0;
    for (i, line) in lines.iter().enumerate() {
        let c = cells(line);
        if !c.first().is_some_and(|c| c.starts_with("Item ")) {
            continue;
        }
        last_item = i;
        count += 1;
        let qty = number(c[1], loc).unwrap_or_else(|| panic!("quantity in {line:?}"));
        let amounts: Vec<Decimal> = c[2..].iter().filter_map(|c| m(c)).collect();
        let (price, discount, amount) = match amounts[..] {
            [p, a] => (p, Decimal::ZERO, a),
            [p, dis, a] => (p, dis, a),
            _ => panic!("{kind:?} {loc:?}: cannot read the line {line:?}"),
        };
        assert!(discount <= Decimal::ZERO, "{line:?}");
        assert_eq!(
            cents(qty * price) + discount,
            amount,
            "{kind:?} {loc:?}: quantity × unit price − discount on {line:?}"
        );
        sum += amount;
    }
    let (mut subtotal, mut total, mut balance) = (None, None, None);
    let (mut running, mut received) = (Decimal::ZERO, Decimal::ZERO);
    for line in &lines[last_item + 1..] {
        let c = cells(line);
        let [label, value] = c[..] else { continue };
        let Some(value) = m(value) else { continue };
        if label == labels.subtotal {
            assert_eq!(
                value, sum,
                "{kind:?} {loc:?}: the lines add up to the subtotal"
            );
            subtotal = Some(value);
            running = value;
        } else if label.starts_with(labels.includes) {
            assert!(total.is_some(), "{label}: included taxes follow the total");
        } else if label == labels.total {
            assert_eq!(
                value, running,
                "{kind:?} {loc:?}: the total adds up\n{text}"
            );
            total = Some(value);
        } else if label == labels.paid || label == labels.credit_applied {
            assert!(value <= Decimal::ZERO, "{label} is taken off");
            received += value;
        } else if label == labels.balance_due {
            assert_eq!(
                Some(value),
                total.map(|t| t + received),
                "{loc:?}: balance due"
            );
            balance = Some(value);
        } else if subtotal.is_some() && total.is_none() {
            // The document discount (negative) or an added tax.
            running += value;
        }
    }
    assert!(
        subtotal.is_some(),
        "{kind:?} {loc:?}: no subtotal in\n{text}"
    );
    let total = total.unwrap_or_else(|| panic!("{kind:?} {loc:?}: no total in\n{text}"));
    if kind == DocKind::Invoice {
        assert!(balance.is_some(), "{loc:?}: no balance due in\n{text}");
    }
    (total, count)
}

/// A statement, checked row by row: each row's balance is the one before
/// plus its debit less its credit (a credit applied moves nothing), from
/// the opening balance to the closing one. Returns the number of entries
/// of each kind (invoice, payment, refund, credit applied).
fn check_statement(text: &str, loc: Locale, currency: &str) -> [usize; 4] {
    let labels = locale::labels(loc);
    let m = |c: &str| money(c, loc, currency);
    let mut balance: Option<Decimal> = None;
    let mut closing = None;
    let mut seen = [0; 4];
    for line in text.lines() {
        let c = cells(line);
        if let Some(i) = c.iter().position(|c| *c == labels.opening_balance)
            && let Some(v) = c.get(i + 1).and_then(|v| m(v))
        {
            balance.get_or_insert(v);
            continue;
        }
        if let Some(i) = c.iter().position(|c| *c == labels.closing_balance)
            && let Some(v) = c.get(i + 1).and_then(|v| m(v))
        {
            closing = Some(v);
            continue;
        }
        let Some(what) = c.get(1) else { continue };
        let kind = [
            labels.entry_invoice,
            labels.entry_payment,
            labels.entry_refund,
            labels.entry_credit_applied,
        ]
        .iter()
        .position(|w| what.starts_with(&format!("{w} ")));
        let Some(kind) = kind else { continue };
        seen[kind] += 1;
        let amounts: Vec<Decimal> = c[2..].iter().filter_map(|c| m(c)).collect();
        let before =
            balance.unwrap_or_else(|| panic!("{loc:?}: an entry before the opening balance"));
        let after = match (kind, &amounts[..]) {
            (0 | 2, [debit, after]) => {
                assert_eq!(before + debit, *after, "{loc:?}: {line:?}");
                *after
            }
            (1, [credit, after]) => {
                assert_eq!(before - credit, *after, "{loc:?}: {line:?}");
                *after
            }
            (3, [after]) => {
                assert_eq!(
                    before, *after,
                    "{loc:?}: credit applied moves nothing: {line:?}"
                );
                *after
            }
            _ => panic!("{loc:?}: cannot read the entry {line:?}"),
        };
        balance = Some(after);
    }
    assert_eq!(
        closing, balance,
        "{loc:?}: the closing balance is the last\n{text}"
    );
    seen
}

/// Request bodies for the priced documents: `(name, lines, discount,
/// paid)`. 1 and 40 lines; line discounts in percent and as amounts;
/// document discounts in percent and as an amount; exclusive, inclusive
/// and compound taxes and several rates, also on one line.
fn scenarios(taxes: &Taxes) -> Vec<(&'static str, Vec<Value>, Value)> {
    let item = |n: usize, qty: &str, price: &str, discount: Value, rates: Vec<&str>| {
        json!({"description": format!("Item {n:02}"), "quantity": qty, "unit_price": price,
               "discount": discount, "tax_rate_ids": rates})
    };
    let rotation: [Vec<&str>; 7] = [
        vec![&taxes.vat],
        vec![&taxes.reduced],
        vec![&taxes.gross],
        vec![&taxes.gst, &taxes.qst],
        vec![],
        vec![&taxes.vat, &taxes.reduced],
        vec![&taxes.gross, &taxes.gst],
    ];
    let discounts = [
        Value::Null,
        json!({"kind": "percent", "value": "12.5"}),
        json!({"kind": "amount", "value": "3.33"}),
    ];
    let forty_mixed = (1..=40)
        .map(|n| {
            let qty = format!("{}", Decimal::new((n as i64 % 7 + 1) * 25, 2));
            let price = format!("{}", Decimal::new(100_000 + n as i64 * 31_415, 4));
            item(
                n,
                &qty,
                &price,
                discounts[n % 3].clone(),
                rotation[n % 7].clone(),
            )
        })
        .collect();
    let forty_vat = (1..=40)
        .map(|n| {
            let price = format!("{}.99", 10 + n);
            let discount = if n % 4 == 0 {
                json!({"kind": "amount", "value": "1.50"})
            } else {
                Value::Null
            };
            item(n, "3", &price, discount, vec![&taxes.vat])
        })
        .collect();
    vec![
        (
            "one line, exclusive tax",
            vec![item(1, "2.5", "120.00", Value::Null, vec![&taxes.vat])],
            Value::Null,
        ),
        (
            "one line, percent off, inclusive tax, amount off the document",
            vec![item(
                1,
                "2.5",
                "120.00",
                json!({"kind": "percent", "value": "10"}),
                vec![&taxes.gross],
            )],
            json!({"kind": "amount", "value": "5.00"}),
        ),
        (
            "forty lines, every kind of tax and discount, percent off the document",
            forty_mixed,
            json!({"kind": "percent", "value": "7.5"}),
        ),
        (
            "forty lines, amount off the document",
            forty_vat,
            json!({"kind": "amount", "value": "50.00"}),
        ),
    ]
}

struct Taxes {
    vat: String,
    reduced: String,
    gross: String,
    gst: String,
    qst: String,
}

async fn taxes(app: &TestApp, t: &Tenant) -> Taxes {
    let rate = async |name: &str, percent: &str, inclusive: bool, compound: bool| {
        let r = app
            .post(
                "/api/v1/tax-rates",
                &t.admin,
                json!({"name": name, "percent": percent, "inclusive": inclusive, "compound": compound}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.id()
    };
    Taxes {
        vat: rate("VAT", "19", false, false).await,
        reduced: rate("Reduced VAT", "7", false, false).await,
        gross: rate("Gross VAT", "19", true, false).await,
        gst: rate("GST", "5", false, false).await,
        qst: rate("QST", "9.975", false, true).await,
    }
}

async fn posted(app: &TestApp, t: &Tenant, path: &str, body: Value) -> Value {
    let r = app.post(path, &t.admin, body).await;
    assert!(r.status.is_success(), "{path}: {} {}", r.status, r.body);
    r.body
}

/// Every kind of document, in every locale, adds up as printed: 1 and 40
/// lines; line and document discounts, in percent and as amounts;
/// exclusive, inclusive and compound taxes at several rates; invoices
/// unpaid, part paid, paid with an overpayment and settled with credit;
/// and the statement of all of it with an opening balance, payments, a
/// refund and credit applied.
#[tokio::test]
async fn every_printed_document_adds_up_in_every_locale() {
    let app = TestApp::new().await;
    for (loc, currency) in LOCALES {
        let t = company(&app, loc, currency).await;
        let client = app
            .billed_client(&t.admin, "Globex", "ap@globex.example")
            .await;
        let taxes = taxes(&app, &t).await;
        // Before the statement's period: its opening balance.
        let early = posted(
            &app,
            &t,
            "/api/v1/invoices",
            json!({"client_id": client, "issue_date": "2026-01-15",
                   "lines": [{"description": "Setup", "quantity": "1", "unit_price": "99.90"}]}),
        )
        .await;
        let early = early["id"].as_str().unwrap().to_owned();
        posted(
            &app,
            &t,
            &format!("/api/v1/invoices/{early}/finalize"),
            json!({}),
        )
        .await;

        let mut invoices = Vec::new();
        for (name, lines, discount) in scenarios(&taxes) {
            let n = lines.len();
            let body = json!({"client_id": client, "issue_date": "2026-02-10",
                              "lines": lines, "discount": discount});
            let quote = posted(&app, &t, "/api/v1/quotes", body.clone()).await;
            let quote_id: nestogy_domain::QuoteId = quote["id"].as_str().unwrap().parse().unwrap();
            let text = printed(&app, &t, DocRef::Quote { id: quote_id }).await;
            let (total, count) = check_priced(&text, DocKind::Quote, loc, currency);
            assert_eq!(count, n, "{loc:?} quote {name}: lines read\n{text}");
            assert_eq!(
                total,
                d(quote["total"].as_str().unwrap()),
                "{loc:?} quote {name}"
            );

            let inv = posted(&app, &t, "/api/v1/invoices", body).await;
            let id = inv["id"].as_str().unwrap().to_owned();
            let inv = posted(
                &app,
                &t,
                &format!("/api/v1/invoices/{id}/finalize"),
                json!({}),
            )
            .await;
            assert_eq!(inv["total"], quote["total"], "{loc:?} {name}: priced alike");
            invoices.push((name, id, n, d(inv["total"].as_str().unwrap())));
        }
        // One part paid, one overpaid (its excess becomes credit), the
        // credit applied to another; then part of a payment refunded.
        let (_, a, _, _) = &invoices[0];
        posted(&app, &t, &format!("/api/v1/invoices/{a}/payments"),
               json!({"amount": "100.00", "method": "card", "reference": "CARD-1", "paid_on": "2026-02-20"})).await;
        let (_, b, _, b_total) = &invoices[3];
        let over = posted(
            &app,
            &t,
            &format!("/api/v1/invoices/{b}/payments"),
            json!({"amount": (b_total + d("40.00")).to_string(), "method": "bank_transfer",
                      "reference": "BANK-2", "paid_on": "2026-02-21"}),
        )
        .await;
        assert_eq!(over["credited"], "40.00", "{}", over);
        let (_, c, _, _) = &invoices[1];
        posted(
            &app,
            &t,
            &format!("/api/v1/invoices/{c}/apply-credit"),
            json!({"amount": "25.00"}),
        )
        .await;
        let refunded = posted(&app, &t, &format!("/api/v1/invoices/{early}/payments"),
               json!({"amount": "99.90", "method": "cash", "reference": "CASH-3", "paid_on": "2026-02-22"})).await;
        let payment = refunded["payment"]["id"].as_str().unwrap().to_owned();
        posted(
            &app,
            &t,
            &format!("/api/v1/payments/{payment}/refund"),
            json!({"amount": "10.00", "reference": "REF-4"}),
        )
        .await;

        for (name, id, n, total) in &invoices {
            let id: nestogy_domain::InvoiceId = id.parse().unwrap();
            let text = printed(&app, &t, DocRef::Invoice { id }).await;
            let (printed_total, count) = check_priced(&text, DocKind::Invoice, loc, currency);
            assert_eq!(count, *n, "{loc:?} invoice {name}: lines read\n{text}");
            assert_eq!(printed_total, *total, "{loc:?} invoice {name}");
        }
        let text = printed(
            &app,
            &t,
            DocRef::Statement {
                client: client.parse().unwrap(),
                period: Period {
                    currency: currency.into(),
                    from: d8(2026, 2, 1),
                    to: d8(2026, 3, 31),
                },
            },
        )
        .await;
        let seen = check_statement(&text, loc, currency);
        assert_eq!(
            seen,
            [4, 3, 1, 1],
            "{loc:?}: invoices, payments, refunds, credit applied\n{text}"
        );
        assert!(
            text.contains(locale::labels(loc).available_credit),
            "{loc:?}: the credit left is shown\n{text}"
        );
    }
}

fn d8(y: i32, m: u32, day: u32) -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

/// A quote and a statement say what they are in every locale: their own
/// title, date label and recipient heading, never an invoice's.
#[tokio::test]
async fn quotes_and_statements_never_speak_as_invoices() {
    let app = TestApp::new().await;
    for (loc, currency) in LOCALES {
        let t = company(&app, loc, currency).await;
        let client = app
            .billed_client(&t.admin, "Initech", "ap@initech.example")
            .await;
        let quote = posted(&app, &t, "/api/v1/quotes",
            json!({"client_id": client, "lines": [{"description": "Item 01", "quantity": "1", "unit_price": "10"}]})).await;
        let inv = app.open_invoice(&t.admin, &client, "Item 01").await;
        let invoice = locale::doc_labels(loc, DocKind::Invoice);
        let text = printed(
            &app,
            &t,
            DocRef::Invoice {
                id: inv.parse().unwrap(),
            },
        )
        .await;
        for w in [invoice.title, invoice.doc_date] {
            assert!(text.contains(w), "{loc:?}: {w:?} on the invoice\n{text}");
        }
        assert!(
            text.contains(&invoice.recipient.to_uppercase()),
            "{loc:?}\n{text}"
        );

        let text = printed(
            &app,
            &t,
            DocRef::Quote {
                id: quote["id"].as_str().unwrap().parse().unwrap(),
            },
        )
        .await;
        let own = locale::doc_labels(loc, DocKind::Quote);
        for w in [own.title, own.doc_date] {
            assert!(text.contains(w), "{loc:?}: {w:?} on the quote\n{text}");
        }
        assert!(
            text.contains(&own.recipient.to_uppercase()),
            "{loc:?}\n{text}"
        );
        let lower = text.to_lowercase();
        for w in [
            invoice.title,
            invoice.doc_date,
            invoice.recipient,
            locale::labels(loc).due_date,
        ] {
            assert!(
                !lower.contains(&w.to_lowercase()),
                "{loc:?}: the quote says {w:?}\n{text}"
            );
        }

        let period = Period {
            currency: currency.into(),
            from: d8(2026, 1, 1),
            to: d8(2026, 3, 31),
        };
        let text = printed(
            &app,
            &t,
            DocRef::Statement {
                client: client.parse().unwrap(),
                period,
            },
        )
        .await;
        let own = locale::doc_labels(loc, DocKind::Statement);
        for w in [own.title, own.doc_date] {
            assert!(text.contains(w), "{loc:?}: {w:?} on the statement\n{text}");
        }
        assert!(
            text.contains(&own.recipient.to_uppercase()),
            "{loc:?}\n{text}"
        );
        let lower = text.to_lowercase();
        // It lists the invoice by name ("Rechnung INV-…"), but never
        // calls itself one.
        for w in [
            invoice.doc_date,
            invoice.recipient,
            locale::labels(loc).due_date,
        ] {
            assert!(
                !lower.contains(&w.to_lowercase()),
                "{loc:?}: the statement says {w:?}\n{text}"
            );
        }
    }
}
