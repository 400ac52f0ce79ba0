//! Renders every template with ordinary and edge-case data and reads the PDFs
//! back with poppler's `pdftotext` / `pdfinfo` (Debian's poppler-utils;
//! scripts/services.sh installs it).

use std::path::PathBuf;
use std::process::Command;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::NaiveDate;
use nestogy_domain::billing::DocKind;
use nestogy_domain::billing::locale::{self, Locale};
use nestogy_render::{Logo, RenderError, Renderer, Template, sample};
use rust_decimal::Decimal;
use serde_json::{Value, json};

static RENDERER: LazyLock<Renderer> = LazyLock::new(Renderer::new);

fn render(template: Template, data: &Value) -> Vec<u8> {
    render_with(template, data, None)
}

fn render_with(template: Template, data: &Value, logo: Option<&Logo>) -> Vec<u8> {
    let bytes = serde_json::to_vec(data).unwrap();
    match RENDERER.render(template, &bytes, logo) {
        Ok(pdf) => pdf,
        Err(e) => panic!("{} failed: {e}", template.name()),
    }
}

fn try_render(template: Template, data: &Value) -> Result<Vec<u8>, RenderError> {
    RENDERER.render(template, &serde_json::to_vec(data).unwrap(), None)
}

/// A fresh folder under the system's temporary one, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "nestogy-render-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs a poppler tool on `pdf` (written to a temporary file) and returns
/// what it prints. pdftotext is told to print to standard output (`-`).
fn poppler(tool: &str, args: &[&str], pdf: &[u8]) -> String {
    let dir = TempDir::new();
    let path = dir.0.join("doc.pdf");
    std::fs::write(&path, pdf).unwrap();
    let mut cmd = Command::new(tool);
    cmd.args(args).arg(&path);
    if tool == "pdftotext" {
        cmd.arg("-");
    }
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {tool} (apt-get install poppler-utils): {e}"));
    assert!(
        output.status.success(),
        "{tool} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The PDF's text, with no-break and narrow no-break spaces made plain
/// spaces and the bidi control characters pdftotext wraps right-to-left runs
/// in removed.
fn text(pdf: &[u8]) -> String {
    normalize(&poppler("pdftotext", &[], pdf))
}

fn normalize(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'))
        .map(|c| if matches!(c, '\u{a0}' | '\u{202f}') { ' ' } else { c })
        .collect()
}

/// Text per page: pdftotext ends every page with a form feed.
fn pages(pdf: &[u8]) -> Vec<String> {
    let mut pages: Vec<String> = text(pdf).split('\x0c').map(str::to_owned).collect();
    if pages.last().is_some_and(|p| p.trim().is_empty()) {
        pages.pop();
    }
    pages
}

fn page_count(pdf: &[u8]) -> usize {
    let info = poppler("pdfinfo", &[], pdf);
    info.lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no page count in {info}"))
}

fn is_pdf_a_2b(pdf: &[u8]) -> bool {
    let has = |needle: &[u8]| pdf.windows(needle.len()).any(|w| w == needle);
    has(b"<pdfaid:part>2</pdfaid:part>") && has(b"<pdfaid:conformance>B</pdfaid:conformance>")
}

/// A word's box on the page, in points, as `pdftotext -bbox` reports it.
#[derive(Debug)]
struct Word {
    text: String,
    x_min: f64,
    x_max: f64,
    y_min: f64,
}

fn words(pdf: &[u8]) -> Vec<Word> {
    let html = poppler("pdftotext", &["-bbox"], pdf);
    let attr = |tag: &str, name: &str| -> f64 {
        let start = tag.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        let end = start + tag[start..].find('"').unwrap();
        tag[start..end].parse().unwrap()
    };
    html.split("<word ")
        .skip(1)
        .map(|w| {
            let (tag, rest) = w.split_once('>').unwrap();
            let text = rest.split_once("</word>").unwrap().0;
            let text = text
                .replace("&amp;", "&")
                .replace("&lt;", "<")
                .replace("&gt;", ">");
            Word {
                text,
                x_min: attr(tag, "xMin"),
                x_max: attr(tag, "xMax"),
                y_min: attr(tag, "yMin"),
            }
        })
        .collect()
}

fn assert_contains(haystack: &str, needle: &str) {
    assert!(
        haystack.contains(needle),
        "{needle:?} not found in:\n{haystack}"
    );
}

/// Ordinary sample data for `template`.
fn sample_for(template: Template) -> Value {
    match template {
        Template::Invoice => sample::invoice_data(12),
        Template::Quote => sample::quote_data(12),
        Template::Statement => sample::statement_data(12),
        Template::Management => sample::management_data(),
    }
}

/// A document's text with all whitespace removed: a word wrapped over
/// several lines reads whole again.
fn squeezed(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

#[test]
fn every_template_renders_ordinary_data() {
    for (template, data) in [
        (Template::Invoice, sample::invoice_data(6)),
        (Template::Quote, sample::quote_data(4)),
        (Template::Statement, sample::statement_data(12)),
    ] {
        let pdf = render(template, &data);
        assert!(pdf.starts_with(b"%PDF-"));
        let t = text(&pdf);
        assert_contains(&t, data["document"]["number"].as_str().unwrap());
        assert_contains(&t, data["document"]["title"].as_str().unwrap());
        assert_contains(&t, "Globex Corporation");
        assert_contains(&t, "Acme MSP GmbH");
        assert_contains(&t, "8001 Zürich");
        assert_contains(&t, "CHE-123.456.789");
        assert_contains(&t, data["document"]["issue_date"].as_str().unwrap());
        for line in data["lines"].as_array().unwrap() {
            for key in ["description", "unit_price", "tax", "amount"] {
                assert_contains(&t, line[key].as_str().unwrap());
            }
        }
        for total in data["totals"].as_array().unwrap() {
            assert_contains(&t, total["label"].as_str().unwrap());
            assert_contains(&t, total["value"].as_str().unwrap());
        }
        for entry in data["entries"].as_array().unwrap() {
            for key in ["date", "description", "balance"] {
                assert_contains(&t, entry[key].as_str().unwrap());
            }
        }
        assert_contains(&t, "Page 1 of 1");
        assert_eq!(page_count(&pdf), 1, "{}", template.name());
    }
}

#[test]
fn each_template_shows_its_own_facts() {
    let mut data = sample::invoice_data(1);
    data["document"]["notes"] = json!("Thank you for your business.\n\nTerms: net 30 days.");
    let t = text(&render(Template::Invoice, &data));
    // Line breaks in the notes are kept.
    assert_contains(&t, "Thank you for your business.\n");
    assert_contains(&t, "\nTerms: net 30 days.");
    assert_contains(&t, "Due date");
    assert_contains(&t, "Dec 25, 2026");
    assert_contains(&t, "PAYMENT INSTRUCTIONS"); // captions are upper case
    assert_contains(&t, "IBAN CH93 0076 2011 6238 5295 7");
    assert_contains(&t, "Acme MSP GmbH · 1 Bahnhofstrasse"); // the footer text

    let t = text(&render(Template::Quote, &sample::quote_data(1)));
    assert_contains(&t, "Valid until");
    assert_contains(&t, "Dec 25, 2026");
    assert!(!t.contains("Due date"));
    assert!(!t.contains("PAYMENT INSTRUCTIONS"));

    let data = sample::statement_data(5);
    let t = text(&render(Template::Statement, &data));
    assert_contains(&t, "Period");
    assert_contains(&t, "Nov 1, 2026 – Nov 30, 2026");
    assert_contains(&t, "Opening balance");
    assert_contains(&t, "Closing balance");
    assert_contains(&t, data["opening_balance"].as_str().unwrap());
    assert_contains(&t, data["closing_balance"].as_str().unwrap());
    for h in ["Date", "Description", "Debit", "Credit", "Balance"] {
        assert_contains(&t, h);
    }
}

#[test]
fn empty_lines_and_entries_render() {
    for (template, data) in [
        (Template::Invoice, sample::invoice_data(0)),
        (Template::Quote, sample::quote_data(0)),
        (Template::Statement, sample::statement_data(0)),
    ] {
        let pdf = render(template, &data);
        assert_eq!(page_count(&pdf), 1);
        let t = text(&pdf);
        assert_contains(&t, "Description");
        assert_contains(&t, "Globex Corporation");
    }
    // No totals, no notes, no payment instructions, no tax ids, no footer,
    // no addresses: all optional.
    let mut data = sample::invoice_data(0);
    data["totals"] = json!([]);
    data["document"]["notes"] = Value::Null;
    data["document"]["due_date"] = Value::Null;
    data["document"]["number"] = Value::Null;
    data["company"]["payment_instructions"] = Value::Null;
    data["company"]["tax_id"] = Value::Null;
    data["company"]["footer"] = Value::Null;
    data["company"]["address_lines"] = json!([]);
    data["client"]["address_lines"] = json!([]);
    let t = text(&render(Template::Invoice, &data));
    assert_contains(&t, "Page 1 of 1");
    assert!(!t.contains("Tax ID"));
}

/// 300 lines run over several pages; the table header repeats on each page
/// and every page says "Page N of M".
#[test]
fn many_lines_span_pages_with_the_header_on_each() {
    for (template, data, header, key) in [
        (
            Template::Invoice,
            sample::invoice_data(300),
            "Unit price",
            "lines",
        ),
        (
            Template::Quote,
            sample::quote_data(300),
            "Unit price",
            "lines",
        ),
        (
            Template::Statement,
            sample::statement_data(300),
            "Debit",
            "entries",
        ),
    ] {
        let pdf = render(template, &data);
        let pages = pages(&pdf);
        let n = pages.len();
        assert_eq!(n, page_count(&pdf));
        assert!(n > 5, "{}: 300 rows on only {n} pages", template.name());
        for (i, page) in pages.iter().enumerate() {
            assert_contains(page, "Description");
            assert_contains(page, header);
            assert_contains(page, &format!("Page {} of {n}", i + 1));
        }
        let all = pages.concat();
        for row in data[key].as_array().unwrap() {
            assert_contains(&all, row["description"].as_str().unwrap());
        }
        // The totals come once, after the last line.
        let last = pages.last().unwrap();
        for total in data["totals"].as_array().unwrap() {
            assert_contains(last, total["value"].as_str().unwrap());
        }
    }
    // More lines, more pages.
    let pages_of = |lines| page_count(&render(Template::Invoice, &sample::invoice_data(lines)));
    let (a, b, c) = (pages_of(20), pages_of(80), pages_of(160));
    assert!(a == 1 && a < b && b < c, "{a} {b} {c}");
}

/// Words of 40 and 200 characters without a space wrap inside their column
/// (or the page) instead of running over it, and still read whole.
#[test]
fn long_words_wrap_instead_of_overflowing() {
    let word40 = "Hyperconvergedinfrastructuremaintenance4"; // 40 characters
    assert_eq!(word40.chars().count(), 40);
    let serial: String = (0..200)
        .map(|i| char::from(b'A' + (i % 26) as u8))
        .collect();
    let mut data = sample::invoice_data(3);
    data["lines"][0]["description"] = json!(format!("{word40} {word40} {word40}"));
    data["lines"][1]["description"] = json!(format!("Serial {serial}"));
    data["client"]["name"] = json!(format!("{word40}{word40}"));
    data["client"]["address_lines"] = json!([serial.clone()]);
    data["company"]["address_lines"] = json!([format!("{word40}{word40}")]);
    data["document"]["notes"] = json!(format!("See {serial}"));

    let pdf = render(Template::Invoice, &data);
    assert_eq!(page_count(&pdf), 1);
    let words = words(&pdf);
    let find = |t: &str| {
        words
            .iter()
            .find(|w| w.text == t)
            .unwrap_or_else(|| panic!("no {t}"))
    };
    // The table's rows lie between its header and the totals; its
    // description column ends where the "Quantity" header begins.
    let quantity = find("Quantity");
    let subtotal = find("Subtotal");
    let page_right = 595.28 - 18.0 / 25.4 * 72.0; // A4 less the 18 mm margin
    let mut in_table = 0;
    for w in &words {
        assert!(
            w.x_max <= page_right + 0.5,
            "{w:?} runs past the margin ({page_right})"
        );
        if w.y_min > quantity.y_min && w.y_min < subtotal.y_min && w.x_min < quantity.x_min {
            assert!(w.x_max < quantity.x_min, "{w:?} overflows into Quantity");
            in_table += 1;
        }
    }
    assert!(
        in_table >= 8,
        "only {in_table} words found in the description column"
    );
    let all = squeezed(&text(&pdf));
    assert_contains(&all, &format!("{word40}{word40}{word40}"));
    assert_contains(&all, &format!("Serial{serial}"));
    assert_contains(&all, &format!("See{serial}"));
}

#[test]
fn scripts_render_and_read_back() {
    // Latin with diacritics, Greek, Japanese kanji, Arabic, Cyrillic.
    let names = ["Zürich", "Ελληνικά", "東京", "العربية", "Москва"];
    let mut data = sample::invoice_data(names.len());
    for (i, name) in names.iter().enumerate() {
        data["lines"][i]["description"] = json!(format!("Office {name}"));
    }
    data["client"]["name"] = json!("東京 Trading 株式会社");
    data["client"]["address_lines"] = json!(["شارع الملك فهد", "الرياض", "Ελληνικά 12", "Zürich"]);
    for template in [Template::Invoice, Template::Quote] {
        let pdf = render(template, &data);
        // Every script has a font, so no .notdef glyph: still PDF/A.
        assert!(
            is_pdf_a_2b(&pdf),
            "{} fell back from PDF/A",
            template.name()
        );
        let t = text(&pdf);
        assert_contains(&t, "東京 Trading 株式会社");
        for name in names {
            // pdftotext gives right-to-left runs in logical order, wrapped
            // in bidi controls (stripped by `text`). We check the Arabic
            // letters come back in logical order or, should a poppler
            // version extract visual order, reversed; either proves the
            // glyphs are there with their Unicode mapping (not
            // presentation forms, not .notdef boxes).
            let reversed: String = name.chars().rev().collect();
            assert!(
                t.contains(&format!("Office {name}")) || t.contains(&reversed),
                "{name} not found in:\n{t}"
            );
        }
        assert!(
            t.contains("شارع الملك فهد")
                || t.contains(&"شارع الملك فهد".chars().rev().collect::<String>())
        );
    }
}

/// Data built with `domain::locale`, as the application builds it, in each
/// locale: formatted amounts, quantities, rates, dates and the labels appear.
#[test]
fn every_locale_renders_its_formats_and_labels() {
    let d = |s: &str| s.parse::<Decimal>().unwrap();
    let date = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
    for (loc, currency) in [
        (Locale::EnUs, "USD"),
        (Locale::EnGb, "GBP"),
        (Locale::DeDe, "EUR"),
        (Locale::FrFr, "EUR"),
    ] {
        let labels = locale::labels(loc);
        let words = locale::doc_labels(loc, DocKind::Invoice);
        let money = |x: &str| locale::format_money(d(x), currency, loc);
        let mut data = sample::invoice_data(0);
        data["lang"] = json!(loc.lang());
        data["labels"] = locale::labels_json(loc, DocKind::Invoice);
        data["document"]["title"] = json!(words.title);
        data["document"]["issue_date"] = json!(locale::format_date(date, loc));
        data["document"]["status_label"] = json!(labels.overdue);
        data["lines"] = json!([
            {
                "description": "Large",
                "quantity": locale::format_number(d("1.5"), loc),
                "unit_price": money("1234567.89"),
                "tax": locale::format_percent(d("8.25"), loc),
                "amount": money("1851851.84"),
            },
            {
                "description": "Credit",
                "quantity": locale::format_number(d("-2"), loc),
                "unit_price": money("617.28"),
                "tax": locale::format_percent(d("0"), loc),
                "amount": money("-1234.56"),
            },
            {
                "description": "Yen and dinar",
                "quantity": locale::format_number(d("1000"), loc),
                "unit_price": locale::format_money(d("1234567"), "JPY", loc),
                "tax": locale::format_percent(d("20"), loc),
                "amount": locale::format_money(d("1234.567"), "KWD", loc),
            },
        ]);
        data["totals"] = json!([
            { "label": labels.subtotal, "value": money("1850617.28"), "strong": false },
            { "label": labels.discount, "value": money("0"), "strong": false },
            { "label": labels.total, "value": money("1850617.28"), "strong": true },
        ]);
        let pdf = render(Template::Invoice, &data);
        assert!(is_pdf_a_2b(&pdf));
        let t = text(&pdf);
        let strings = data["lines"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|l| ["quantity", "unit_price", "tax", "amount"].map(|k| l[k].clone()))
            .chain(
                data["totals"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t["value"].clone()),
            )
            .map(|v| v.as_str().unwrap().to_owned())
            .chain([
                locale::format_date(date, loc),
                words.title.to_owned(),
                words.doc_date.to_owned(),
                words.recipient.to_uppercase(),
                labels.description.to_owned(),
                labels.unit_price.to_owned(),
                labels.subtotal.to_owned(),
                labels.overdue.to_owned(),
                format!("{} 1 {} 1", labels.page, labels.of),
            ]);
        for s in strings {
            assert_contains(&t, &normalize(&s));
        }
    }
}

#[test]
fn same_inputs_give_identical_bytes() {
    let data = sample::invoice_data(12);
    let logo = Logo::Png(sample::png_logo(8, 4, [31, 111, 235]));
    let mut with_logo = data.clone();
    with_logo["company"]["logo"] = json!("/logo.png");
    for template in Template::ALL {
        let data = sample_for(template);
        let a = render(template, &data);
        let b = render(template, &data);
        assert!(a == b, "{} differs between two renders", template.name());
    }
    let a = render_with(Template::Invoice, &with_logo, Some(&logo));
    // On another thread, after other renders have filled and evicted caches.
    let b = std::thread::spawn(move || render_with(Template::Invoice, &with_logo, Some(&logo)))
        .join()
        .unwrap();
    assert!(a == b);

    // The date comes from the data, never the clock.
    let info = poppler("pdfinfo", &[], &a);
    assert!(info.contains("Nov 25") && info.contains("2026"), "{info}");

    // A different number is a different document.
    let mut other = data.clone();
    other["document"]["number"] = json!("INV-2026-000002");
    assert!(render(Template::Invoice, &data) != render(Template::Invoice, &other));
}

#[test]
fn concurrent_renders_match_a_single_render() {
    let data = sample::invoice_data(8);
    let expected = render(Template::Invoice, &data);
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let data = data.clone();
            std::thread::spawn(move || {
                let mut out = Vec::new();
                for _ in 0..3 {
                    out.push(render(Template::Invoice, &data));
                    // Interleave other documents.
                    render(Template::Quote, &sample::quote_data(i + 1));
                }
                out
            })
        })
        .collect();
    for t in threads {
        for pdf in t.join().unwrap() {
            assert!(pdf == expected);
        }
    }
}

#[test]
fn png_and_svg_logos_render() {
    let png = sample::png_logo(48, 16, [31, 111, 235]);
    let svg = sample::svg_logo();
    let plain = render(Template::Invoice, &sample::invoice_data(2));
    for (logo, path) in [(Logo::Png(png), "/logo.png"), (Logo::Svg(svg), "/logo.svg")] {
        let mut data = sample::invoice_data(2);
        data["company"]["logo"] = json!(path);
        let pdf = render_with(Template::Invoice, &data, Some(&logo));
        assert!(pdf.len() > plain.len(), "{path}: no logo in the PDF?");
        assert_contains(&text(&pdf), "Acme MSP GmbH");
        assert!(is_pdf_a_2b(&pdf), "{path}");
        for template in [Template::Quote, Template::Statement] {
            render_with(template, &data, Some(&logo));
        }
    }
    let has_image = |pdf: &[u8]| pdf.windows(14).any(|w| w == b"/Subtype /Image");
    let mut data = sample::invoice_data(2);
    data["company"]["logo"] = json!("/logo.png");
    let pdf = render_with(
        Template::Invoice,
        &data,
        Some(&Logo::Png(sample::png_logo(4, 4, [0, 0, 0]))),
    );
    assert!(has_image(&pdf) || pdf.len() > plain.len());
}

#[test]
fn logo_mismatches_are_data_errors() {
    let mut data = sample::invoice_data(1);
    data["company"]["logo"] = json!("/logo.png");
    let bytes = serde_json::to_vec(&data).unwrap();
    let err = RENDERER
        .render(Template::Invoice, &bytes, None)
        .unwrap_err();
    assert!(matches!(err, RenderError::Data(_)), "{err:?}");
    let err = RENDERER
        .render(
            Template::Invoice,
            &bytes,
            Some(&Logo::Svg(sample::svg_logo())),
        )
        .unwrap_err();
    assert!(matches!(err, RenderError::Data(_)), "{err:?}");
    // A logo that does not decode fails in the template, at the image.
    let err = RENDERER
        .render(
            Template::Invoice,
            &bytes,
            Some(&Logo::Png(b"not a png".to_vec())),
        )
        .unwrap_err();
    match err {
        RenderError::Template { template, line, .. } => {
            assert_eq!(template, "common.typ");
            assert!(line > 0);
        }
        other => panic!("{other:?}"),
    }
    // Not given in the data: the logo is simply not shown.
    RENDERER
        .render(
            Template::Invoice,
            &serde_json::to_vec(&sample::invoice_data(1)).unwrap(),
            Some(&Logo::Svg(sample::svg_logo())),
        )
        .unwrap();
}

#[test]
fn a_syntax_error_names_the_template_and_line() {
    let source = "#import \"common.typ\": *\n\nHello\n#let broken = (1, 2\n";
    let data = serde_json::to_vec(&sample::invoice_data(1)).unwrap();
    let err = RENDERER
        .render_source("broken.typ", source, &data, None)
        .unwrap_err();
    match &err {
        RenderError::Template {
            template,
            line,
            column,
            message,
        } => {
            assert_eq!(template, "broken.typ");
            assert_eq!(*line, 4, "{message}");
            assert!(*column >= 1);
            assert!(!message.is_empty());
        }
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string()
            .starts_with("template broken.typ failed to compile at line 4: "),
        "{err}"
    );

    // An unknown function, on line 3.
    let err = RENDERER
        .render_source("other.typ", "a\nb\n#nosuchfunction()\n", &data, None)
        .unwrap_err();
    assert!(
        matches!(&err, RenderError::Template { template, line: 3, .. } if template == "other.typ"),
        "{err:?}"
    );
}

#[test]
fn a_runtime_error_names_the_line_where_it_happened() {
    let data = serde_json::to_vec(&sample::invoice_data(1)).unwrap();
    // In the main file.
    let source =
        "#let data = json(\"/data.json\")\n\n#data.document.title\n#data.document.no_such_field\n";
    let err = RENDERER
        .render_source("main.typ", source, &data, None)
        .unwrap_err();
    assert!(
        matches!(&err, RenderError::Template { template, line: 4, .. } if template == "main.typ"),
        "{err:?}"
    );
    // Inside a function of the template: the line inside the function.
    let source =
        "#let f(x) = {\n  let y = x + 1\n  assert(y < 0, message: \"too big\")\n}\n\n#f(1)\n";
    let err = RENDERER
        .render_source("fn.typ", source, &data, None)
        .unwrap_err();
    match &err {
        RenderError::Template {
            template,
            line,
            message,
            ..
        } => {
            assert_eq!(template, "fn.typ");
            assert_eq!(*line, 3, "{message}");
            assert_contains(message, "too big");
        }
        other => panic!("{other:?}"),
    }
    // A panic in a template is an error, not a Rust panic.
    let err = RENDERER
        .render_source("p.typ", "#panic(\"boom\")", &data, None)
        .unwrap_err();
    assert!(
        matches!(err, RenderError::Template { line: 1, .. }),
        "{err:?}"
    );
}

#[test]
fn bad_data_gives_errors_not_panics() {
    // Not JSON, not an object, wrong types the renderer reads itself.
    for data in [
        &b"not json"[..],
        b"[1, 2]",
        b"",
        br#"{"document": {"number": 5}}"#,
    ] {
        let err = RENDERER.render(Template::Invoice, data, None).unwrap_err();
        assert!(matches!(err, RenderError::Data(_)), "{err:?}");
    }
    // Missing fields and wrong types the template reads.
    let broken: &[fn(&mut Value)] = &[
        |d| drop(d.as_object_mut().unwrap().remove("client")),
        |d| drop(d.as_object_mut().unwrap().remove("labels")),
        |d| drop(d["lines"][0].as_object_mut().unwrap().remove("amount")),
        |d| d["lines"] = json!("not a list"),
        |d| d["document"]["title"] = json!(42),
        |d| d["lang"] = json!("not a language"),
        |d| d["totals"] = json!([{ "label": "Total" }]),
        |d| *d = json!({}),
    ];
    for (i, f) in broken.iter().enumerate() {
        for (template, base) in [
            (Template::Invoice, sample::invoice_data(2)),
            (Template::Quote, sample::quote_data(2)),
        ] {
            let mut data = base;
            f(&mut data);
            match try_render(template, &data) {
                Err(RenderError::Template {
                    template: file,
                    line,
                    ..
                }) => {
                    assert!(file.ends_with(".typ"), "case {i}: {file}");
                    assert!(line > 0, "case {i}: no line");
                }
                other => panic!("case {i}: expected a template error, got {other:?}"),
            }
        }
    }
    // A missing `entries` in a statement is only an empty statement, a bad
    // accent colour only falls back to the default.
    let mut data = sample::statement_data(2);
    data.as_object_mut().unwrap().remove("entries");
    data["company"]["accent"] = json!("blue-ish");
    render(Template::Statement, &data);
}

#[test]
fn pdf_a_2b_unless_a_character_has_no_glyph() {
    for template in Template::ALL {
        let data = match template {
            Template::Invoice => sample::invoice_data(3),
            Template::Quote => sample::quote_data(3),
            Template::Statement => sample::statement_data(3),
            Template::Management => sample::management_data(),
        };
        let pdf = render(template, &data);
        assert!(is_pdf_a_2b(&pdf), "{} is not PDF/A-2b", template.name());
        let meta = poppler("pdfinfo", &["-meta"], &pdf);
        assert_contains(&meta, "<pdfaid:part>2</pdfaid:part>");
    }
    // Tagged PDF (a structure tree for screen readers) is off by default
    // and can be turned on; either way the PDF is PDF/A-2b.
    let has = |pdf: &[u8], needle: &[u8]| pdf.windows(needle.len()).any(|w| w == needle);
    let data = serde_json::to_vec(&sample::invoice_data(3)).unwrap();
    let plain = RENDERER.render(Template::Invoice, &data, None).unwrap();
    let tagged = Renderer::new()
        .with_tagged_pdf(true)
        .render(Template::Invoice, &data, None)
        .unwrap();
    assert!(!has(&plain, b"/StructTreeRoot"));
    assert!(has(&tagged, b"/StructTreeRoot"));
    assert!(is_pdf_a_2b(&tagged));
    assert_eq!(text(&plain), text(&tagged));

    // Thai and an emoji: no compiled-in font has them. The document still
    // renders, as plain PDF (PDF/A forbids the .notdef boxes).
    let mut data = sample::invoice_data(1);
    data["lines"][0]["description"] = json!("สวัสดี 😀 support");
    let pdf = render(Template::Invoice, &data);
    assert!(!is_pdf_a_2b(&pdf));
    assert_contains(&text(&pdf), "support");
}

#[test]
fn the_status_shows_as_watermark_and_badge() {
    let mut data = sample::invoice_data(2);
    data["document"]["status_label"] = json!("VOID");
    let pdf = render(Template::Invoice, &data);
    assert!(is_pdf_a_2b(&pdf));
    let t = text(&pdf);
    // The badge under the number reads VOID; so does the watermark.
    assert!(t.matches("VOID").count() >= 1, "{t}");
    let plain = text(&render(Template::Invoice, &sample::invoice_data(2)));
    assert!(!plain.contains("VOID") && !plain.contains("DRAFT"));
}

#[test]
fn template_names() {
    assert_eq!(Template::Invoice.name(), "invoice.typ");
    assert_eq!(Template::Quote.name(), "quote.typ");
    assert_eq!(Template::Statement.name(), "statement.typ");
    assert_eq!(Template::Management.name(), "management.typ");
    assert_eq!(Logo::Png(vec![]).path(), "/logo.png");
    assert_eq!(Logo::Svg(vec![]).path(), "/logo.svg");
}

/// The management report: KPIs, charts and tables on two pages, the same
/// bytes each time. With `NESTOGY_MANAGEMENT_PDF=/path.pdf` set, the sample
/// is also written there for a look (`pdftoppm -png -r 60 /path.pdf out`).
#[test]
fn management_report_renders() {
    let data = sample::management_data();
    let pdf = render(Template::Management, &data);
    assert!(pdf.starts_with(b"%PDF-"));
    assert!(pdf == render(Template::Management, &data));
    assert!(is_pdf_a_2b(&pdf));
    if let Ok(path) = std::env::var("NESTOGY_MANAGEMENT_PDF") {
        std::fs::write(path, &pdf).unwrap();
    }
    assert_eq!(page_count(&pdf), 2);
    let t = text(&pdf);
    for s in [
        "Management report",
        "MR-2026-11",
        "November 2026",
        "Acme MSP GmbH",
        "Invoiced and collected by month",
        "Receivables ageing",
        "Tickets opened and resolved by week",
        "SLA compliance",
        "Page 2 of 2",
    ] {
        assert_contains(&t, s);
    }
    for kpi in data["kpis"].as_array().unwrap() {
        assert_contains(&t, kpi["value"].as_str().unwrap());
    }
    // Every shown value of the tables and the ageing chart (its `amount`
    // only sets the bars' lengths).
    let all = squeezed(&t);
    for (key, fields) in [
        ("ageing", &["bucket", "label"][..]),
        ("top_clients", &["client", "revenue"]),
        (
            "response_times",
            &[
                "priority",
                "tickets",
                "first_response_median",
                "first_response_p90",
                "resolution_median",
                "resolution_p90",
            ],
        ),
        ("sla", &["priority", "met", "breached", "compliance"]),
    ] {
        for row in data[key].as_array().unwrap() {
            for f in fields {
                assert_contains(&all, &squeezed(row[*f].as_str().unwrap()));
            }
        }
    }
    assert_contains(&t, "Globex Corporation");
    assert!(!t.contains("No data for this period."));
    let info = poppler("pdfinfo", &[], &pdf);
    assert!(info.contains("Dec  1") && info.contains("2026"), "{info}");
    assert_contains(&info, "Management report MR-2026-11");
}

/// Empty lists give "No data" lines instead of charts; zero values and a
/// single month draw without dividing by zero; a German `strings` set
/// replaces the headings.
#[test]
fn management_report_renders_empty_and_zero_data() {
    let data = sample::management_data_empty();
    let pdf = render(Template::Management, &data);
    assert!(pdf.starts_with(b"%PDF-"));
    assert!(pdf == render(Template::Management, &data));
    assert_eq!(page_count(&pdf), 1);
    let t = text(&pdf);
    assert_contains(&t, "$0.00");
    assert!(t.matches("No data for this period.").count() >= 7, "{t}");

    let mut zero = sample::management_data();
    for (key, fields) in [
        (
            "finance_months",
            &["invoiced", "collected", "outstanding"][..],
        ),
        ("mrr_months", &["mrr"]),
        ("ageing", &["amount"]),
        ("ticket_weeks", &["opened", "resolved"]),
        ("sla", &["met", "breached"]),
    ] {
        for row in zero[key].as_array_mut().unwrap() {
            for f in fields {
                row[*f] = json!("0");
            }
        }
    }
    let pdf = render(Template::Management, &zero);
    assert!(pdf == render(Template::Management, &zero));
    assert_contains(&text(&pdf), "Globex Corporation");

    // One month, negative values, no optional parts.
    let mut odd = sample::management_data();
    odd["finance_months"] = json!([{ "month": "Nov 26", "invoiced": "-120.50", "collected": "0", "outstanding": "-3" }]);
    odd["mrr_months"] = json!([{ "month": "Nov 26", "mrr": "0.01" }]);
    odd["document"]["currency"] = Value::Null;
    odd["document"]["period"] = Value::Null;
    odd.as_object_mut().unwrap().remove("notes");
    odd.as_object_mut().unwrap().remove("ageing");
    odd["strings"] = json!({ "tickets_title": "Tickets pro Woche", "no_data": "Keine Daten." });
    let t = text(&render(Template::Management, &odd));
    assert_contains(&t, "Tickets pro Woche");
    assert_contains(&t, "Keine Daten.");
}
