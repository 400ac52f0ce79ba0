//! Renders documents (invoices, quotes, statements, monthly management
//! reports) to PDF with typst.
//!
//! A [`Renderer`] is built once per process: it parses the fonts (all
//! compiled into the binary, nothing read from the system) and the templates
//! (`templates/*.typ`, also compiled in). It is `Send + Sync`; workers share
//! one behind an `Arc` and call [`Renderer::render`] from as many threads as
//! they like.
//!
//! The document's data is JSON with every value already formatted (see
//! `sample` for its shape); a template reads it as the virtual file
//! `/data.json` and a logo as `/logo.png` or `/logo.svg`.
//!
//! Output is deterministic: the same template, data and logo give the same
//! bytes. The PDF's date comes from the data (see [`Renderer::render`]),
//! never from the clock, and its identifier from the document number.
//!
//! PDFs are PDF/A-2b (falling back to plain PDF 1.7 only for a character no
//! compiled-in font has; see [`Renderer::render`]) and untagged unless
//! [`Renderer::with_tagged_pdf`] asks for a structure tree.
//!
//! typst memoizes across renders; every fourth render the renderer evicts
//! the cache entries unused for the last dozen renders (`comemo::evict`), so
//! a long-running worker's memory stays bounded (see `EVICT_EVERY` for why
//! not after each render). The templates are written to
//! make the most of that cache (see the head of `templates/common.typ`): a
//! one-page invoice takes about 2 ms in a release build once warm.

mod fonts;
pub mod sample;
mod world;

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Deserialize;
use typst::diag::{Severity, SourceDiagnostic};
use typst::foundations::{Bytes, Datetime, Smart};
use typst::syntax::{DiagSpan, FileId, Source};
use typst::utils::LazyHash;
use typst::{Library, LibraryExt, World, WorldExt};
use typst_kit::fonts::FontStore;
use typst_layout::PagedDocument;
use typst_pdf::{PdfOptions, PdfStandard, PdfStandards, Timestamp};

use crate::world::{DocWorld, IDS};

/// typst memoizes across renders in process-wide caches; `comemo::evict`
/// drops the entries unused for `CACHE_MAX_AGE` evictions, which keeps a
/// long-running worker's memory bounded. Entries every render uses (the
/// parsed templates, the fonts' shaping data, the unchanged parts of the
/// documents) are hit each time and stay.
///
/// An eviction walks every cache up to the largest size it ever had (the
/// caches' tables never shrink): about 0.1 ms after small documents, 0.4 ms
/// once a 375-line invoice has been rendered, more after bigger ones. So the
/// renderer evicts after every `EVICT_EVERY`-th render (counted across
/// threads) rather than after each: an entry unused for about
/// `EVICT_EVERY * CACHE_MAX_AGE` = 12 renders goes, a quarter of the cost.
const EVICT_EVERY: usize = 4;
const CACHE_MAX_AGE: usize = 3;

const INVOICE_TYP: &str = include_str!("../../templates/invoice.typ");
const QUOTE_TYP: &str = include_str!("../../templates/quote.typ");
const STATEMENT_TYP: &str = include_str!("../../templates/statement.typ");
const MANAGEMENT_TYP: &str = include_str!("../../templates/management.typ");
const COMMON_TYP: &str = include_str!("../../templates/common.typ");

/// A document template compiled into the binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Template {
    Invoice,
    Quote,
    Statement,
    /// A monthly management report: KPIs, charts and service-desk tables
    /// (data: `sample::management_data`).
    Management,
}

impl Template {
    /// Every template.
    pub const ALL: [Template; 4] = [
        Template::Invoice,
        Template::Quote,
        Template::Statement,
        Template::Management,
    ];

    /// The template's file name: `invoice.typ`, `quote.typ`, `statement.typ`,
    /// `management.typ`.
    pub fn name(self) -> &'static str {
        match self {
            Template::Invoice => "invoice.typ",
            Template::Quote => "quote.typ",
            Template::Statement => "statement.typ",
            Template::Management => "management.typ",
        }
    }

    /// The template's place in `Renderer::sources`.
    fn index(self) -> usize {
        match self {
            Template::Invoice => 0,
            Template::Quote => 1,
            Template::Statement => 2,
            Template::Management => 3,
        }
    }
}

/// A company logo, served to the template as `/logo.png` or `/logo.svg`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Logo {
    Png(Vec<u8>),
    Svg(Vec<u8>),
}

impl Logo {
    /// The virtual path the template reads the logo from.
    pub fn path(&self) -> &'static str {
        match self {
            Logo::Png(_) => "/logo.png",
            Logo::Svg(_) => "/logo.svg",
        }
    }

    fn file(&self) -> (FileId, Bytes) {
        match self {
            Logo::Png(b) => (IDS.logo_png, Bytes::new(b.clone())),
            Logo::Svg(b) => (IDS.logo_svg, Bytes::new(b.clone())),
        }
    }
}

/// Why a document could not be rendered.
#[derive(thiserror::Error, Debug)]
pub enum RenderError {
    /// The template failed to compile or failed while running on this data
    /// (a missing field, a logo that does not decode, ...). `template` is the
    /// file the error points into (`invoice.typ`, `common.typ` for an error
    /// inside a shared helper, or the name given to `render_source`); `line`
    /// and `column` are 1-based, or 0 when typst gave no location.
    #[error("template {template} failed to compile at line {line}: {message}")]
    Template {
        template: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// The data is not a JSON object of the expected shape, or names a logo
    /// that was not given.
    #[error("document data is not valid: {0}")]
    Data(String),
    /// The laid-out document could not be written as PDF (or typst itself
    /// failed: a panic inside typst is caught and reported here).
    #[error("PDF export failed: {0}")]
    Pdf(String),
}

/// Renders documents. Build one per process ([`Renderer::new`] parses the
/// fonts and templates) and share it between threads.
pub struct Renderer {
    library: LazyHash<Library>,
    fonts: FontStore,
    /// invoice, quote, statement, management (in `Template::index` order),
    /// common: parsed once.
    sources: [Source; 5],
    pdf_a: PdfStandards,
    /// Whether PDFs carry a structure tree for assistive technology.
    tagged: bool,
    /// Renders so far, to evict typst's caches every `EVICT_EVERY`-th.
    renders: AtomicUsize,
}

impl Default for Renderer {
    fn default() -> Self {
        Self::new()
    }
}

/// The few fields of the data the renderer itself reads (the template reads
/// the rest). Unknown fields are ignored.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Meta {
    company: CompanyMeta,
    document: DocumentMeta,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CompanyMeta {
    logo: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct DocumentMeta {
    number: Option<String>,
    /// `YYYY-MM-DD`, optional: the PDF's date. Without it the date is read
    /// from `issue_date` (any of the formats `domain::locale` writes).
    issue_date_iso: Option<String>,
    issue_date: Option<String>,
}

impl Renderer {
    /// Loads the fonts and parses the templates. Takes a few milliseconds;
    /// do it once.
    pub fn new() -> Renderer {
        let sources = [
            Source::new(IDS.invoice, INVOICE_TYP.to_owned()),
            Source::new(IDS.quote, QUOTE_TYP.to_owned()),
            Source::new(IDS.statement, STATEMENT_TYP.to_owned()),
            Source::new(IDS.management, MANAGEMENT_TYP.to_owned()),
            Source::new(IDS.common, COMMON_TYP.to_owned()),
        ];
        // PDF/A-2b alone is a valid configuration; were it ever refused, the
        // default (plain PDF 1.7) would do rather than a panic.
        let pdf_a = PdfStandards::new(&[PdfStandard::A_2b]).unwrap_or_default();
        Renderer {
            library: LazyHash::new(Library::default()),
            fonts: fonts::load(),
            sources,
            pdf_a,
            tagged: false,
            renders: AtomicUsize::new(0),
        }
    }

    /// Whether to write tagged PDF: a structure tree (headings, tables,
    /// reading order) for screen readers. Off by default: PDF/A-2b does not
    /// need it and it costs about 0.2 ms of the ~2 ms a one-page invoice
    /// takes; turn it on where accessible documents matter more than
    /// throughput.
    pub fn with_tagged_pdf(mut self, tagged: bool) -> Renderer {
        self.tagged = tagged;
        self
    }

    /// Renders one of the built-in templates.
    ///
    /// `data` is the document as JSON (see the `sample` module for its
    /// shape). If `company.logo` names `/logo.png` or `/logo.svg`, `logo`
    /// must be the matching image.
    ///
    /// The PDF conforms to PDF/A-2b. PDF/A forbids a glyph the fonts do not
    /// have (it would show as a blank box, `.notdef`); when the data holds a
    /// character none of the compiled-in fonts covers (an emoji, Thai,
    /// Devanagari, ...) the document is written as plain PDF 1.7 instead,
    /// with the same content, rather than failing.
    ///
    /// The PDF's date is `document.issue_date_iso` (`YYYY-MM-DD`) if given,
    /// else `document.issue_date` read back from the formats
    /// `domain::locale::format_date` writes (or ISO), else 2000-01-01: never
    /// the clock. The document identifier is derived from the template and
    /// `document.number` (or from a hash of the data when there is no
    /// number). Same inputs, same bytes.
    pub fn render(
        &self,
        template: Template,
        data: &[u8],
        logo: Option<&Logo>,
    ) -> Result<Vec<u8>, RenderError> {
        let main = self.sources[template.index()].clone();
        self.render_main(template.name(), main, data, logo)
    }

    /// Renders arbitrary template source as if it were a template file named
    /// `name` next to the built-in ones (it may `#import "common.typ": *`).
    /// Errors in it are reported under `name`.
    pub fn render_source(
        &self,
        name: &str,
        source: &str,
        data: &[u8],
        logo: Option<&Logo>,
    ) -> Result<Vec<u8>, RenderError> {
        let main = Source::new(IDS.custom, source.to_owned());
        self.render_main(name, main, data, logo)
    }

    fn render_main(
        &self,
        name: &str,
        main: Source,
        data: &[u8],
        logo: Option<&Logo>,
    ) -> Result<Vec<u8>, RenderError> {
        // typst reports every template or data problem as a diagnostic; a
        // panic would be a bug in typst itself. Even then the caller gets an
        // error, not an unwinding worker thread.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.render_uncached(name, main, data, logo)
        }))
        .unwrap_or_else(|panic| {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            Err(RenderError::Pdf(format!(
                "typst panicked rendering {name}: {message}"
            )))
        });
        if self.renders.fetch_add(1, Ordering::Relaxed) % EVICT_EVERY == EVICT_EVERY - 1 {
            typst::comemo::evict(CACHE_MAX_AGE);
        }
        result
    }

    fn render_uncached(
        &self,
        name: &str,
        main: Source,
        data: &[u8],
        logo: Option<&Logo>,
    ) -> Result<Vec<u8>, RenderError> {
        let meta = read_meta(data, logo)?;
        let world = DocWorld {
            renderer: self,
            main,
            data: Bytes::new(data.to_vec()),
            logo: logo.map(Logo::file),
        };

        let document: PagedDocument = typst::compile(&world)
            .output
            .map_err(|diags| template_error(&world, name, &diags))?;

        let ident = match meta.document.number.as_deref().map(str::trim) {
            Some(number) if !number.is_empty() => format!("nestogy/{name}/{number}"),
            _ => format!("nestogy/{name}/data-{:016x}", fnv1a(data)),
        };
        let date = meta
            .document
            .issue_date_iso
            .as_deref()
            .and_then(parse_date)
            .or_else(|| meta.document.issue_date.as_deref().and_then(parse_date))
            .unwrap_or((2000, 1, 1));
        let timestamp = Datetime::from_ymd(date.0, date.1, date.2).map(Timestamp::new_utc);

        let mut options = PdfOptions {
            ident: Smart::Custom(ident),
            timestamp,
            standards: self.pdf_a.clone(),
            tagged: self.tagged,
            ..PdfOptions::default()
        };
        match typst_pdf::pdf(&document, &options) {
            Ok(pdf) => Ok(pdf),
            Err(_) => {
                // Not PDF/A-conformant content (see `render`): plain PDF.
                options.standards = PdfStandards::default();
                typst_pdf::pdf(&document, &options).map_err(|diags| {
                    let e = first_error(&world, name, &diags);
                    RenderError::Pdf(format!("{} ({} line {})", e.message, e.file, e.line))
                })
            }
        }
    }
}

/// Checks the data is a JSON object and reads what the renderer needs.
fn read_meta(data: &[u8], logo: Option<&Logo>) -> Result<Meta, RenderError> {
    let meta: Meta = serde_json::from_slice(data).map_err(|e| RenderError::Data(e.to_string()))?;
    if let Some(path) = meta.company.logo.as_deref() {
        match logo {
            Some(logo) if logo.path() == path => {}
            Some(logo) => {
                return Err(RenderError::Data(format!(
                    "company.logo is {path:?} but the logo given is {:?}",
                    logo.path()
                )));
            }
            None => {
                return Err(RenderError::Data(format!(
                    "company.logo is {path:?} but no logo was given"
                )));
            }
        }
    }
    Ok(meta)
}

/// The first error of typst's diagnostics, located.
struct Located {
    file: String,
    line: usize,
    column: usize,
    message: String,
}

/// Turns typst's diagnostics into a [`RenderError::Template`].
fn template_error(world: &DocWorld, main_name: &str, diags: &[SourceDiagnostic]) -> RenderError {
    let e = first_error(world, main_name, diags);
    RenderError::Template {
        template: e.file,
        line: e.line,
        column: e.column,
        message: e.message,
    }
}

/// Finds the first error and where it points: the file and line of its
/// span or, when typst attached the error to no span, of the innermost call
/// in its trace that has one.
fn first_error(world: &DocWorld, main_name: &str, diags: &[SourceDiagnostic]) -> Located {
    let Some(diag) = diags
        .iter()
        .find(|d| d.severity == Severity::Error)
        .or(diags.first())
    else {
        return Located {
            file: main_name.to_owned(),
            line: 0,
            column: 0,
            message: "typst reported an error without a message".to_owned(),
        };
    };
    let mut message = diag.message.to_string();
    for hint in &diag.hints {
        message.push_str(" (hint: ");
        message.push_str(&hint.v);
        message.push(')');
    }
    let location = std::iter::once(diag.span)
        .chain(diag.trace.iter().map(|t| DiagSpan::from(t.span)))
        .find_map(|span| locate(world, main_name, span));
    let (file, line, column) = location.unwrap_or_else(|| (main_name.to_owned(), 0, 0));
    Located {
        file,
        line,
        column,
        message,
    }
}

/// The file name and 1-based line and column a span points at.
fn locate(world: &DocWorld, main_name: &str, span: DiagSpan) -> Option<(String, usize, usize)> {
    let id = span.id()?;
    let range: Range<usize> = world.range(span)?;
    let name = if id == world.main() {
        main_name.to_owned()
    } else {
        id.vpath().file_name().unwrap_or("?").to_owned()
    };
    let (line, column) = match world.source(id) {
        Ok(source) => source.lines().byte_to_line_column(range.start)?,
        Err(_) => {
            // A data file (e.g. /data.json): count lines in its bytes.
            let bytes = world.file(id).ok()?;
            let head = bytes.get(..range.start)?;
            let line = head.iter().filter(|&&b| b == b'\n').count();
            let column = head.iter().rev().take_while(|&&b| b != b'\n').count();
            (line, column)
        }
    };
    Some((name, line + 1, column + 1))
}

/// Reads a date as `domain::locale::format_date` writes it (`Nov 25, 2026`,
/// `25 Nov 2026`, `25.11.2026`, `25/11/2026`) or as ISO `2026-11-25`.
fn parse_date(s: &str) -> Option<(i32, u8, u8)> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let month_of = |m: &str| {
        let m = m.get(..3)?.to_ascii_lowercase();
        MONTHS.iter().position(|x| *x == m).map(|i| i as u8 + 1)
    };
    let s = s.trim();
    let num = |p: &str| p.trim().parse::<u32>().ok();
    let (y, m, d) = if let [y, m, d] = s.split('-').collect::<Vec<_>>()[..] {
        (num(y)?, num(m)?, num(d)?)
    } else if let [d, m, y] = s.split(['.', '/']).collect::<Vec<_>>()[..] {
        (num(y)?, num(m)?, num(d)?)
    } else {
        let words: Vec<&str> = s
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|w| !w.is_empty())
            .collect();
        match words[..] {
            [m, d, y] if month_of(m).is_some() => (num(y)?, month_of(m)? as u32, num(d)?),
            [d, m, y] => (num(y)?, month_of(m)? as u32, num(d)?),
            _ => return None,
        }
    };
    let (y, m, d) = (
        i32::try_from(y).ok()?,
        u8::try_from(m).ok()?,
        u8::try_from(d).ok()?,
    );
    // Validates the day of the month too.
    Datetime::from_ymd(y, m, d).map(|_| (y, m, d))
}

/// FNV-1a, 64 bits: a hash that is the same on every platform and release.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_read_back() {
        assert_eq!(parse_date("2026-11-25"), Some((2026, 11, 25)));
        assert_eq!(parse_date("Nov 25, 2026"), Some((2026, 11, 25)));
        assert_eq!(parse_date("25 Nov 2026"), Some((2026, 11, 25)));
        assert_eq!(parse_date("25.11.2026"), Some((2026, 11, 25)));
        assert_eq!(parse_date("03/01/2027"), Some((2027, 1, 3)));
        assert_eq!(parse_date("31.02.2026"), None);
        assert_eq!(parse_date("someday"), None);
        assert_eq!(parse_date(""), None);
    }

    #[test]
    fn renderer_is_send_and_sync() {
        fn assert<T: Send + Sync>() {}
        assert::<Renderer>();
    }
}
