//! A small, forgiving HTML-to-text converter for e-mail bodies.
//!
//! mail-parser 0.11.9 has its own `html_to_text` (used by
//! `Message::body_text`), but it only breaks lines at `<br>` and `</p>`:
//! `<div>`s, list items, table rows and links all run together, which is
//! not readable for ticket text. This one follows these rules:
//!
//! - `<script>`, `<style>`, `<head>`, `<title>`, `<template>`, `<noscript>`
//!   and `<svg>` are dropped with their content (when such an element is
//!   never closed only the tag itself is dropped, so a broken `<head>`
//!   cannot swallow the message); comments, `<!DOCTYPE>`, `<?xml?>` and
//!   Outlook's conditional comments are dropped;
//! - block elements (`div`, `p`, `h1`-`h6`, `ul`, `ol`, `li`, `table`,
//!   `tr`, `blockquote`, `pre`, ...) start and end lines; paragraphs,
//!   headings, lists, tables and quotes are separated by a blank line;
//!   `<br>` is a line break and `<hr>` a line of underscores (as Outlook's
//!   own plain-text rendering does);
//! - `<li>` becomes a bullet (`• `), or `1. `, `2. `, ... inside `<ol>`,
//!   indented by nesting depth; table cells on a row are joined by a space;
//! - `<blockquote>` content is prefixed with `> ` per level, so quoted
//!   history in HTML mail looks like quoted history in text mail;
//! - links become `text [n]` when the text differs from the URL (ignoring
//!   `mailto:`, case and a trailing slash), with the URLs listed as
//!   numbered footnotes (`[n] url`) after the text, so long tracking URLs
//!   never break a sentence (one number per distinct URL); links without
//!   text, `javascript:` and in-page `#` links show only their text;
//! - entities are decoded: common named ones and all numeric ones
//!   (`&#150;` style references in the C1 range are read as windows-1252,
//!   as browsers do; invalid code points become U+FFFD);
//! - whitespace is collapsed outside `<pre>`, trailing whitespace is removed
//!   from every line, runs of blank lines are reduced to one, and the result
//!   is trimmed.

/// Nesting shown at most this deep (list indentation, quote markers), so
/// pathological nesting cannot blow up the output.
const MAX_DEPTH: usize = 8;

/// Elements dropped together with their content.
const SKIP_CONTENT: &[&str] = &[
    "script", "style", "head", "title", "template", "noscript", "svg",
];

/// Elements that separate paragraphs (a blank line before and after).
const PARAGRAPH: &[&str] = &[
    "p",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "blockquote",
    "pre",
    "ul",
    "ol",
    "dl",
    "figure",
];

/// Elements that start and end a line.
const BLOCK: &[&str] = &[
    "div",
    "li",
    "tr",
    "section",
    "article",
    "header",
    "footer",
    "nav",
    "aside",
    "address",
    "dt",
    "dd",
    "form",
    "fieldset",
    "figcaption",
    "main",
    "center",
    "tbody",
    "thead",
    "tfoot",
    "caption",
    "body",
    "html",
];

/// Converts an HTML document or fragment into readable plain text.
pub fn html_to_text(html: &str) -> String {
    let mut c = Converter::default();
    c.run(html);
    c.finish()
}

#[derive(Debug, Clone, Copy)]
enum ListKind {
    Unordered,
    Ordered(u32),
}

#[derive(Default)]
struct Converter {
    out: String,
    /// Newlines at the end of `out` (only counted since the last content).
    trailing_newlines: usize,
    /// Newlines required before the next content.
    need_newlines: usize,
    pending_space: bool,
    at_line_start: bool,
    quote_depth: usize,
    pre_depth: usize,
    lists: Vec<ListKind>,
    /// Open links: the href and where their text starts in `out`.
    links: Vec<(Option<String>, usize)>,
    /// The footnoted URLs, in order of first use.
    footnotes: Vec<String>,
    /// Needles known to be absent from a position on, so that many
    /// unclosed `<style>` tags cost one scan, not one each.
    absent: Vec<(String, usize)>,
}

impl Converter {
    fn run(&mut self, html: &str) {
        self.at_line_start = true;
        let bytes = html.as_bytes();
        let mut i = 0;
        let mut text_start = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'<' => {
                    let next = bytes.get(i + 1).copied().unwrap_or(b' ');
                    if !(next.is_ascii_alphabetic() || matches!(next, b'/' | b'!' | b'?')) {
                        i += 1;
                        continue;
                    }
                    self.text(&html[text_start..i]);
                    i = self.markup(html, i);
                    text_start = i;
                }
                _ => i += 1,
            }
        }
        self.text(&html[text_start..]);
    }

    /// Handles markup starting at `html[start] == '<'`; returns the index
    /// after it.
    fn markup(&mut self, html: &str, start: usize) -> usize {
        let rest = &html[start..];
        if let Some(comment) = rest.strip_prefix("<!--") {
            return match comment.find("-->") {
                Some(end) => start + 4 + end + 3,
                None => html.len(),
            };
        }
        if rest.starts_with("<!") || rest.starts_with("<?") {
            return match rest.find('>') {
                Some(end) => start + end + 1,
                None => html.len(),
            };
        }
        let Some(tag) = parse_tag(rest) else {
            return html.len();
        };
        let after = start + tag.len;
        let name = tag.name.as_str();

        if !tag.closing && SKIP_CONTENT.contains(&name) && !tag.self_closing {
            let closing = self.find_from(html, after, &format!("</{name}"));
            let end = if name == "head" {
                // A broken <head> must not swallow the body.
                match (closing, self.find_from(html, after, "<body")) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            } else {
                closing
            };
            return match end {
                Some(abs) => {
                    // Skip the closing tag itself, if that is what we found.
                    if html[abs..].starts_with("</") {
                        match html[abs..].find('>') {
                            Some(gt) => abs + gt + 1,
                            None => html.len(),
                        }
                    } else {
                        abs
                    }
                }
                None => after,
            };
        }

        self.element(&tag);
        after
    }

    /// Absolute position of `needle` (lowercase) in `html` at or after
    /// `from`, case-insensitively.
    fn find_from(&mut self, html: &str, from: usize, needle: &str) -> Option<usize> {
        if self
            .absent
            .iter()
            .any(|(n, pos)| n == needle && *pos <= from)
        {
            return None;
        }
        let found = find_ascii_ci(html.get(from..).unwrap_or(""), needle).map(|pos| from + pos);
        if found.is_none() {
            self.absent.push((needle.to_owned(), from));
        }
        found
    }

    fn element(&mut self, tag: &Tag) {
        let name = tag.name.as_str();
        match (name, tag.closing) {
            ("br", _) => self.hard_newline(),
            ("hr", false) => {
                self.block(1);
                self.emit_str("________________________________");
                self.block(1);
            }
            ("a", false) => {
                let href = tag.attr("href").map(str::to_owned);
                // Flush pending spacing so the link text starts here.
                self.flush_pending();
                let pos = self.out.len();
                self.links.push((href, pos));
                if tag.self_closing {
                    self.close_link();
                }
            }
            ("a", true) => self.close_link(),
            ("li", false) => {
                self.block(1);
                let depth = self.lists.len().max(1);
                let marker = match self.lists.last_mut() {
                    Some(ListKind::Ordered(n)) => {
                        *n += 1;
                        format!("{n}. ")
                    }
                    _ => "• ".to_owned(),
                };
                self.emit_str(&"  ".repeat(depth.min(MAX_DEPTH) - 1));
                self.emit_str(&marker);
                self.pending_space = false;
            }
            ("ul", false) | ("ol", false) => {
                self.block(if self.lists.is_empty() { 2 } else { 1 });
                self.lists.push(if name == "ol" {
                    let start = tag
                        .attr("start")
                        .and_then(|s| s.trim().parse::<u32>().ok())
                        .unwrap_or(1);
                    ListKind::Ordered(start.saturating_sub(1))
                } else {
                    ListKind::Unordered
                });
            }
            ("ul", true) | ("ol", true) => {
                self.lists.pop();
                self.block(if self.lists.is_empty() { 2 } else { 1 });
            }
            ("blockquote", false) => {
                self.block(2);
                // The separating blank line belongs outside the quote.
                self.flush_newlines();
                self.quote_depth += 1;
            }
            ("blockquote", true) => {
                self.block(2);
                self.quote_depth = self.quote_depth.saturating_sub(1);
            }
            ("pre", false) => {
                self.block(2);
                self.pre_depth += 1;
            }
            ("pre", true) => {
                self.pre_depth = self.pre_depth.saturating_sub(1);
                self.block(2);
            }
            ("td", _) | ("th", _) => self.pending_space = true,
            _ if PARAGRAPH.contains(&name) => self.block(2),
            _ if BLOCK.contains(&name) => self.block(1),
            _ => {}
        }
    }

    fn close_link(&mut self) {
        let Some((href, pos)) = self.links.pop() else {
            return;
        };
        let Some(href) = href else {
            return;
        };
        let href = href.trim();
        let text = self.out.get(pos..).unwrap_or("").trim();
        if text.is_empty() || href.is_empty() {
            return;
        }
        let lower = href.to_ascii_lowercase();
        if lower.starts_with("javascript:") || href.starts_with('#') {
            return;
        }
        // Cheap length check first: comparing would lowercase the text.
        if text.len() <= href.len() + 64 && same_target(text, href) {
            return;
        }
        let n = match self.footnotes.iter().position(|f| f == href) {
            Some(i) => i + 1,
            None => {
                self.footnotes.push(href.to_owned());
                self.footnotes.len()
            }
        };
        self.emit_char(' ');
        self.emit_str(&format!("[{n}]"));
    }

    /// Requires `n` newlines (1: new line, 2: blank line) before more text.
    fn block(&mut self, n: usize) {
        self.pending_space = false;
        self.need_newlines = self.need_newlines.max(n);
    }

    fn hard_newline(&mut self) {
        self.flush_newlines();
        self.push_newline();
        self.pending_space = false;
    }

    fn flush_newlines(&mut self) {
        if self.out.is_empty() {
            self.need_newlines = 0;
            return;
        }
        while self.trailing_newlines < self.need_newlines {
            self.push_newline();
        }
        self.need_newlines = 0;
    }

    fn flush_pending(&mut self) {
        self.flush_newlines();
        if self.pending_space && !self.at_line_start && !self.out.ends_with(' ') {
            self.out.push(' ');
        }
        self.pending_space = false;
    }

    fn push_newline(&mut self) {
        if self.at_line_start && self.quote_depth > 0 {
            self.out
                .push_str(&">".repeat(self.quote_depth.min(MAX_DEPTH)));
        }
        self.out.push('\n');
        self.trailing_newlines += 1;
        self.at_line_start = true;
    }

    fn emit_char(&mut self, ch: char) {
        if self.at_line_start && self.quote_depth > 0 {
            self.out
                .push_str(&"> ".repeat(self.quote_depth.min(MAX_DEPTH)));
        }
        self.out.push(ch);
        self.at_line_start = false;
        self.trailing_newlines = 0;
    }

    fn emit_str(&mut self, s: &str) {
        self.flush_newlines();
        for ch in s.chars() {
            self.emit_char(ch);
        }
    }

    /// Adds a run of character data (entities still encoded).
    fn text(&mut self, raw: &str) {
        if raw.is_empty() {
            return;
        }
        let decoded = decode_entities(raw);
        if self.pre_depth > 0 {
            for ch in decoded.chars() {
                match ch {
                    '\r' => {}
                    '\n' => self.hard_newline(),
                    '\u{a0}' => {
                        self.flush_pending();
                        self.emit_char(' ');
                    }
                    _ => {
                        self.flush_pending();
                        self.emit_char(ch);
                    }
                }
            }
            return;
        }
        for ch in decoded.chars() {
            if ch.is_whitespace() || is_invisible(ch) {
                if ch.is_whitespace() {
                    self.pending_space = true;
                }
                continue;
            }
            self.flush_pending();
            self.emit_char(ch);
        }
    }

    fn finish(mut self) -> String {
        while !self.links.is_empty() {
            self.close_link();
        }
        let mut text = tidy_text(&self.out);
        if !self.footnotes.is_empty() {
            text.push('\n');
            for (i, url) in self.footnotes.iter().enumerate() {
                text.push_str(&format!("\n[{}] {url}", i + 1));
            }
        }
        text
    }
}

/// Zero-width characters dropped from text (soft hyphen, ZWSP, ZWNJ, ZWJ,
/// BOM, LRM/RLM).
fn is_invisible(ch: char) -> bool {
    matches!(
        ch,
        '\u{ad}' | '\u{200b}' | '\u{200c}' | '\u{200d}' | '\u{feff}' | '\u{200e}' | '\u{200f}'
    )
}

/// Removes trailing whitespace from lines (keeping bare `>` quote markers),
/// reduces runs of blank lines to one, and trims the result.
pub(crate) fn tidy_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut blank_run = 0;
    for line in s.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank_run += 1;
            if blank_run > 1 {
                continue;
            }
        } else {
            blank_run = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    let trimmed = out.trim();
    trimmed.to_owned()
}

/// Whether a link's text and its target name the same thing.
fn same_target(text: &str, href: &str) -> bool {
    fn norm(s: &str) -> String {
        let s = s.trim().to_lowercase();
        let s = s.strip_prefix("mailto:").unwrap_or(&s).to_owned();
        let s = s
            .strip_prefix("https://")
            .or_else(|| s.strip_prefix("http://"))
            .unwrap_or(&s)
            .to_owned();
        s.trim_end_matches('/').to_owned()
    }
    norm(text) == norm(href)
}

/// Case-insensitive (ASCII) search of `needle` (lowercase) in `hay`.
fn find_ascii_ci(hay: &str, needle: &str) -> Option<usize> {
    let h = hay.as_bytes();
    let n = needle.as_bytes();
    if n.is_empty() || h.len() < n.len() {
        return None;
    }
    (0..=h.len() - n.len()).find(|&i| h[i..i + n.len()].eq_ignore_ascii_case(n))
}

struct Tag {
    name: String,
    closing: bool,
    self_closing: bool,
    attrs: Vec<(String, String)>,
    /// Length of the tag in bytes, including `<` and `>`.
    len: usize,
}

impl Tag {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses a start or end tag at the start of `s` (which begins with `<`).
/// `None` when the tag never ends.
fn parse_tag(s: &str) -> Option<Tag> {
    let b = s.as_bytes();
    let mut i = 1;
    let closing = b.get(i) == Some(&b'/');
    if closing {
        i += 1;
    }
    let name_start = i;
    while i < b.len() && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'-' | b':' | b'_')) {
        i += 1;
    }
    let name = s[name_start..i].to_ascii_lowercase();
    let mut attrs = Vec::new();
    let mut self_closing = false;
    loop {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
            self_closing = b[i] == b'/';
            i += 1;
        }
        match b.get(i) {
            None => return None,
            Some(b'>') => {
                i += 1;
                break;
            }
            _ => {}
        }
        self_closing = false;
        let attr_start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && !matches!(b[i], b'=' | b'>' | b'/') {
            i += 1;
        }
        let attr_name = s[attr_start..i].to_ascii_lowercase();
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = String::new();
        if b.get(i) == Some(&b'=') {
            i += 1;
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            match b.get(i) {
                Some(&q) if q == b'"' || q == b'\'' => {
                    let end = s[i + 1..].find(char::from(q))?;
                    value = decode_entities(&s[i + 1..i + 1 + end]);
                    i += end + 2;
                }
                _ => {
                    let start = i;
                    while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'>' {
                        i += 1;
                    }
                    value = decode_entities(&s[start..i]);
                }
            }
        }
        if attr_name.is_empty() {
            if i == attr_start {
                // Stray character: skip it so the loop always advances.
                i += 1;
            }
        } else {
            attrs.push((attr_name, value));
        }
    }
    Some(Tag {
        name,
        closing,
        self_closing,
        attrs,
        len: i,
    })
}

/// Decodes character references: named (common ones) and numeric.
/// Unknown or unterminated references are left as they are.
pub fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let limit = rest.len().min(34);
        let semi = rest.as_bytes()[..limit].iter().position(|&b| b == b';');
        let decoded = semi.and_then(|semi| decode_entity(&rest[1..semi]).map(|c| (c, semi)));
        match decoded {
            Some((ch, semi)) => {
                out.push(ch);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// windows-1252 meanings of the C1 range, used by browsers for `&#128;`..`&#159;`.
const CP1252_C1: [char; 32] = [
    '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž', '\u{8f}',
    '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}', 'ž', 'Ÿ',
];

fn decode_entity(name: &str) -> Option<char> {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) if !hex.is_empty() && hex.len() <= 8 => u32::from_str_radix(hex, 16).ok()?,
            None if !num.is_empty() && num.len() <= 10 => num.parse::<u32>().ok()?,
            _ => return None,
        };
        return Some(match code {
            0 => '\u{fffd}',
            128..=159 => CP1252_C1[(code - 128) as usize],
            _ => char::from_u32(code).unwrap_or('\u{fffd}'),
        });
    }
    let ch = match name {
        "amp" | "AMP" => '&',
        "lt" | "LT" => '<',
        "gt" | "GT" => '>',
        "quot" | "QUOT" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        "ensp" => '\u{2002}',
        "emsp" => '\u{2003}',
        "thinsp" => '\u{2009}',
        "zwnj" => '\u{200c}',
        "zwj" => '\u{200d}',
        "lrm" => '\u{200e}',
        "rlm" => '\u{200f}',
        "shy" => '\u{ad}',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "hellip" => '…',
        "mdash" => '—',
        "ndash" => '–',
        "lsquo" => '‘',
        "rsquo" => '’',
        "sbquo" => '‚',
        "ldquo" => '“',
        "rdquo" => '”',
        "bdquo" => '„',
        "laquo" => '«',
        "raquo" => '»',
        "lsaquo" => '‹',
        "rsaquo" => '›',
        "bull" => '•',
        "middot" => '·',
        "dagger" => '†',
        "euro" => '€',
        "pound" => '£',
        "yen" => '¥',
        "cent" => '¢',
        "curren" => '¤',
        "sect" => '§',
        "para" => '¶',
        "deg" => '°',
        "plusmn" => '±',
        "times" => '×',
        "divide" => '÷',
        "micro" => 'µ',
        "frac12" => '½',
        "frac14" => '¼',
        "frac34" => '¾',
        "sup2" => '²',
        "sup3" => '³',
        "iexcl" => '¡',
        "iquest" => '¿',
        "ordf" => 'ª',
        "ordm" => 'º',
        "larr" => '←',
        "rarr" => '→',
        "uarr" => '↑',
        "darr" => '↓',
        "check" => '✓',
        "auml" => 'ä',
        "ouml" => 'ö',
        "uuml" => 'ü',
        "Auml" => 'Ä',
        "Ouml" => 'Ö',
        "Uuml" => 'Ü',
        "euml" => 'ë',
        "iuml" => 'ï',
        "yuml" => 'ÿ',
        "szlig" => 'ß',
        "aacute" => 'á',
        "eacute" => 'é',
        "iacute" => 'í',
        "oacute" => 'ó',
        "uacute" => 'ú',
        "yacute" => 'ý',
        "Aacute" => 'Á',
        "Eacute" => 'É',
        "Iacute" => 'Í',
        "Oacute" => 'Ó',
        "Uacute" => 'Ú',
        "agrave" => 'à',
        "egrave" => 'è',
        "igrave" => 'ì',
        "ograve" => 'ò',
        "ugrave" => 'ù',
        "Agrave" => 'À',
        "Egrave" => 'È',
        "acirc" => 'â',
        "ecirc" => 'ê',
        "icirc" => 'î',
        "ocirc" => 'ô',
        "ucirc" => 'û',
        "Ecirc" => 'Ê',
        "atilde" => 'ã',
        "otilde" => 'õ',
        "ntilde" => 'ñ',
        "Ntilde" => 'Ñ',
        "ccedil" => 'ç',
        "Ccedil" => 'Ç',
        "aring" => 'å',
        "Aring" => 'Å',
        "aelig" => 'æ',
        "AElig" => 'Æ',
        "oslash" => 'ø',
        "Oslash" => 'Ø',
        "oelig" => 'œ',
        "OElig" => 'Œ',
        _ => return None,
    };
    Some(ch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_breaks_and_paragraphs() {
        let html = "<html><head><title>T</title><style>p{color:red}</style></head>\
                    <body><p>Hello   there,</p><p>line one<br>line two</p>\
                    <div>a</div><div><br></div><div>b</div></body></html>";
        assert_eq!(
            html_to_text(html),
            "Hello there,\n\nline one\nline two\n\na\n\nb"
        );
    }

    #[test]
    fn lists() {
        let html = "<p>Steps:</p><ul><li>one</li><li>two<ul><li>nested</li></ul></li></ul>\
                    <ol start=\"3\"><li>third</li><li>fourth</li></ol>";
        assert_eq!(
            html_to_text(html),
            "Steps:\n\n• one\n• two\n  • nested\n\n3. third\n4. fourth"
        );
    }

    #[test]
    fn links() {
        let html = "See <a href=\"https://example.com/kb?a=1&amp;b=2\">the article</a>, \
                    <a href=\"https://example.com/\">https://example.com</a>, \
                    <a href=\"mailto:help@example.com\">help@example.com</a>, \
                    <a href=\"#top\">top</a>, <a href=\"javascript:void(0)\">click</a> \
                    and <a href=\"https://x.test/pixel\"><img src=\"x.png\"></a>.";
        assert_eq!(
            html_to_text(html),
            "See the article [1], https://example.com, \
             help@example.com, top, click and .\n\n[1] https://example.com/kb?a=1&b=2"
        );
        let twice = "<p><a href=\"https://a.test/x\">one</a> <a href=\"https://b.test/\">two</a> \
                     <a href=\"https://a.test/x\">again</a></p>";
        assert_eq!(
            html_to_text(twice),
            "one [1] two [2] again [1]\n\n[1] https://a.test/x\n[2] https://b.test/"
        );
    }

    #[test]
    fn script_style_comments_dropped() {
        let html = "<!DOCTYPE html><!--[if mso]><xml>junk</xml><![endif]-->\
                    <script>alert('x<y')</script><STYLE>.a{}</STYLE><p>Kept</p>\
                    <noscript>no</noscript><?xml version=\"1.0\"?>";
        assert_eq!(html_to_text(html), "Kept");
    }

    #[test]
    fn unclosed_head_does_not_swallow_body() {
        assert_eq!(
            html_to_text("<head><meta charset=utf-8><body><p>Body text</p>"),
            "Body text"
        );
        assert_eq!(html_to_text("<style>p{}<p>still here"), "p{}\n\nstill here");
    }

    #[test]
    fn entities() {
        assert_eq!(
            decode_entities(
                "a &amp; b &lt;c&gt; &quot;d&quot; &#39;e&#x27; &euro;5 &#150; &#0; &bogus; & x"
            ),
            "a & b <c> \"d\" 'e' €5 – \u{fffd} &bogus; & x"
        );
        assert_eq!(html_to_text("caf&eacute;&nbsp;&nbsp;ok"), "café ok");
        assert_eq!(decode_entities("&#x1F600;"), "😀");
        assert_eq!(decode_entities("&#xD800;&#99999999;"), "\u{fffd}\u{fffd}");
    }

    #[test]
    fn blockquote_is_quoted() {
        let html = "<div>Thanks!</div><div class=\"gmail_quote\">On Mon, 2 Mar 2026 at 09:00, Bob \
                    &lt;bob@example.com&gt; wrote:<br><blockquote>Printer broken<br><br>\
                    <blockquote>older</blockquote></blockquote></div>";
        assert_eq!(
            html_to_text(html),
            "Thanks!\nOn Mon, 2 Mar 2026 at 09:00, Bob <bob@example.com> wrote:\n\n\
             > Printer broken\n>\n> > older"
        );
    }

    #[test]
    fn pre_keeps_whitespace_and_tables_join_cells() {
        let html = "<pre>  a\n    b</pre><table><tr><td>Name:</td><td>Bob</td></tr>\
                    <tr><th>Tel</th><td>123</td></tr></table><hr><p>x</p>";
        assert_eq!(
            html_to_text(html),
            "a\n    b\n\nName: Bob\nTel 123\n\n________________________________\n\nx"
        );
    }

    #[test]
    fn pathological_input_stays_linear() {
        let many_styles = "<style>".repeat(50_000) + "end";
        assert_eq!(html_to_text(&many_styles), "end");
        let deep = "<ul><li><blockquote>".repeat(5_000) + "x";
        let out = html_to_text(&deep);
        // Linear: one short line per level, indentation capped.
        assert!(out.len() < 5_000 * 64, "{}", out.len());
        assert!(out.ends_with("x"));
        let links = "<a href=\"u\">".repeat(20_000) + "text";
        assert!(html_to_text(&links).starts_with("text [1]"));
    }

    #[test]
    fn malformed_input_is_tolerated() {
        assert_eq!(html_to_text("1 < 2 and 3 > 2"), "1 < 2 and 3 > 2");
        assert_eq!(html_to_text("text <b"), "text");
        assert_eq!(html_to_text("<a href='x"), "");
        assert_eq!(html_to_text("<p =x>y</p>"), "y");
        assert_eq!(html_to_text("<!-- never closed"), "");
        assert_eq!(html_to_text(""), "");
        assert_eq!(html_to_text("<b>ü</b>n&#105;c&ocirc;de"), "ünicôde");
    }
}
