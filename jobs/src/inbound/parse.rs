//! Turning a raw RFC 5322 message into a normalised [`ParsedMail`].
//!
//! Parsing uses mail-parser (with its `full_encoding` feature, so bodies and
//! RFC 2047 words in any charset encoding_rs knows decode: ISO-2022-JP,
//! GB2312/GBK/GB18030, Big5, Shift_JIS, EUC-JP/KR, KOI8-R/U, windows-125x,
//! ISO-8859-x, UTF-7, UTF-16, ...). On top of it:
//!
//! # Errors (quarantine)
//!
//! [`parse`] fails only when the input is not a message (empty, no header
//! block at the start, a NUL byte in the header block), when it has no
//! usable author address (none with an `@` in `From`, nor in `Sender`:
//! "no From address"), or when the parser panics
//! (mail-parser 0.11.9 has `debug_assert!`s that fire on some malformed
//! nested multiparts; the panic is caught and reported as
//! `parser panicked: ...`). A message without Message-ID, Date, Subject or
//! body is fine.
//!
//! # Fields
//!
//! - ids (`Message-ID`, `In-Reply-To`, `References`) are read from the top
//!   header block: every `<...>` in the value (or, without brackets, every
//!   whitespace/comma-separated word), normalised with
//!   [`normalize_message_id`], garbage dropped, duplicates removed;
//! - addresses are lowercased and trimmed; invalid ones (no `@`) dropped;
//!   `from` is the first usable `From` address, else the `Sender` (some
//!   old programs set only that);
//! - `text` is the text/plain body (all inline text parts joined with a blank
//!   line, HTML parts converted with [`html_to_text`]); when there is no
//!   non-blank text/plain, the HTML converted. When that is still empty
//!   (mail-parser lists the text part of a multipart without its closing
//!   boundary as an attachment), the first attachment that is text/plain or
//!   text/html (or has no type), has no filename and is not
//!   `Content-Disposition: attachment` is the body instead, and is not
//!   kept as an attachment. Line endings become `\n`,
//!   control characters other than `\n` and `\t` are removed (PostgreSQL
//!   rejects NUL), and it is capped at [`Limits::max_text_chars`];
//! - `new_text` is `text` without quoted history ([`super::quote`]), kept
//!   whole when a forwarded-message block (`---------- Forwarded message
//!   ---------`, `Begin forwarded message:`, ...) comes before the first
//!   quote marker; `forwarded` says the message is a forward: a subject
//!   starting with an unambiguous forward prefix ([`is_forward_subject`]:
//!   `Fwd`, `Fw`, `WG`, `TR`, `RV`, `ENC`, `VL`, `Doorst`, but not `VS`,
//!   which Finnish clients use for replies) or such a block. Whoever stores
//!   the message decides: a forward that opens a ticket is all request,
//!   while one added to a ticket is mostly history already there;
//! - attachments over [`Limits::max_attachment_bytes`], or past
//!   [`Limits::max_attachments`], are listed in `skipped` instead;
//!   filenames are sanitised ([`sanitize_filename`]);
//! - `automated` (and `automated_signal`, what matched) is the first
//!   machine signal found by [`super::robots::classify`];
//! - `return_path` is the address of the top `Return-Path` (the envelope
//!   sender the last MTA saw): an acknowledgement goes there (RFC 3834),
//!   never to `Reply-To`;
//! - `returned_message_ids`, only for [`Automated::DeliveryStatus`]: the ids
//!   of the message a delivery report returns, read from its returned
//!   headers: every `text/rfc822-headers` (or `message/rfc822-headers`,
//!   `message/global-headers`) part and every attached `message/rfc822`
//!   (or `message/global`) part, in order, each giving its `Message-ID`,
//!   then `In-Reply-To`, then `References`; normalised, deduplicated. When
//!   no such part names any, `Message-ID:`/`In-Reply-To:`/`References:`
//!   lines in `text` are used (qmail and others return the original inline,
//!   below the explanation).
//!
//! # Content hash
//!
//! [`content_hash`] is the hex SHA-256 over the Message-ID (normalised, or
//! `""`), the From, Date and Subject header values as written (unfolded,
//! whitespace collapsed), and the body bytes after the header block (CRLF
//! turned into LF, trailing whitespace dropped), each length-prefixed.
//! Trace headers (Received, Delivered-To, Return-Path, DKIM, ...) are not
//! part of it, so one message delivered twice by different routes hashes
//! the same, while a reused Message-ID with another body does not. It only
//! scans the raw header block, so it works on input [`parse`] rejects.

use std::panic::{AssertUnwindSafe, catch_unwind};

use chrono::{DateTime, Utc};
use mail_parser::{
    HeaderName, HeaderValue, Message, MessageParser, MessagePart, MimeHeaders, PartType,
};
use nestogy_domain::service_desk::threading::{
    collapse_whitespace, is_forward_subject, normalize_message_id,
};
use sha2::{Digest, Sha256};

use super::html::html_to_text;
use super::{charset, quote};

/// Limits applied while parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Larger attachments are skipped (default 10 MiB).
    pub max_attachment_bytes: usize,
    /// Attachments past this count are skipped (default 20).
    pub max_attachments: usize,
    /// `text` is cut after this many characters (default 200 000).
    pub max_text_chars: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_attachment_bytes: 10 * 1024 * 1024,
            max_attachments: 20,
            max_text_chars: 200_000,
        }
    }
}

/// A mailbox: lowercased, trimmed address and the display name, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub email: String,
    pub name: Option<String>,
}

/// An attachment kept.
#[derive(Debug, Clone)]
pub struct Attachment {
    /// Sanitised: no path separators or control characters, never empty
    /// (`attachment-N` when there is no usable name).
    pub filename: String,
    /// `type/subtype`, lowercase; text parts are stored decoded as UTF-8 and
    /// say `; charset=utf-8`.
    pub content_type: String,
    pub bytes: Vec<u8>,
    /// Shown in the body (`Content-Disposition: inline`, or an inline image
    /// / a part with a Content-ID and no `attachment` disposition).
    pub inline: bool,
}

/// An attachment left out because of [`Limits`].
#[derive(Debug, Clone)]
pub struct Skipped {
    pub filename: String,
    pub size: usize,
    pub reason: String,
}

pub use super::robots::Automated;

/// A parsed, normalised inbound message.
#[derive(Debug, Clone)]
pub struct ParsedMail {
    /// Normalised `<...>`.
    pub message_id: Option<String>,
    /// Normalised.
    pub in_reply_to: Vec<String>,
    /// Normalised, in order.
    pub references: Vec<String>,
    /// Decoded (RFC 2047), whitespace collapsed; `""` if none.
    pub subject: String,
    pub from: Option<Address>,
    pub reply_to: Option<Address>,
    pub to: Vec<Address>,
    pub cc: Vec<Address>,
    pub date: Option<DateTime<Utc>>,
    /// The full readable text, capped at [`Limits::max_text_chars`].
    pub text: String,
    /// `text` without the quoted history; never empty when `text` isn't.
    pub new_text: String,
    pub html: Option<String>,
    pub attachments: Vec<Attachment>,
    pub skipped: Vec<Skipped>,
    pub automated: Option<Automated>,
    /// The header, part or pattern that made it `automated`.
    pub automated_signal: Option<&'static str>,
    /// The top `Return-Path` address; `None` when absent or null (`<>`).
    pub return_path: Option<Address>,
    /// The subject decoded cleanly: no undecodable bytes or encoded words
    /// left (U+FFFD, `=?...?=`). A subject that did not is never sent.
    pub subject_decoded: bool,
    /// See [`content_hash`].
    pub content_hash: String,
    /// The subject starts with a forward prefix or the text contains a
    /// forwarded-message marker.
    pub forwarded: bool,
    /// For a delivery report, the ids of the message it returns (see the
    /// module docs); empty otherwise.
    pub returned_message_ids: Vec<String>,
}

/// Why a message could not be parsed (it goes to quarantine).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{reason}")]
pub struct ParseError {
    pub reason: String,
}

impl ParseError {
    fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }
}

/// Parses a raw RFC 5322 message. See the module docs for when it fails.
pub fn parse(raw: &[u8], limits: &Limits) -> Result<ParsedMail, ParseError> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(ParseError::new("not an e-mail message: empty input"));
    }
    let headers = RawHeaders::scan(raw);
    if headers.fields.is_empty() {
        return Err(ParseError::new(
            "not an e-mail message: no header block at the start",
        ));
    }
    if headers.block.contains(&0) {
        return Err(ParseError::new(
            "not an e-mail message: NUL byte in the header block",
        ));
    }
    catch_parser_panic(|| parse_checked(raw, &headers, limits))?
}

/// Runs `f`, turning a panic into a [`ParseError`] `parser panicked: ...`.
pub(crate) fn catch_parser_panic<T>(f: impl FnOnce() -> T) -> Result<T, ParseError> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        let detail = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        ParseError::new(format!("parser panicked: {detail}"))
    })
}

fn parse_checked(
    raw: &[u8],
    headers: &RawHeaders<'_>,
    limits: &Limits,
) -> Result<ParsedMail, ParseError> {
    let message = MessageParser::default()
        .parse(raw)
        .ok_or_else(|| ParseError::new("not an e-mail message: no headers found"))?;
    let root = message
        .parts
        .first()
        .ok_or_else(|| ParseError::new("not an e-mail message: no parts"))?;

    let from = first_address(root, &HeaderName::From)
        .or_else(|| headers.get("from").and_then(fallback_address))
        .or_else(|| first_address(root, &HeaderName::Sender))
        .or_else(|| headers.get("sender").and_then(fallback_address))
        .ok_or_else(|| ParseError::new("no From address"))?;
    let reply_to = first_address(root, &HeaderName::ReplyTo);
    let to = all_addresses(root, &HeaderName::To);
    let cc = all_addresses(root, &HeaderName::Cc);

    let subject = decode_subject(root, headers);
    let subject_decoded = !subject.contains('\u{fffd}') && !subject.contains("=?");
    let return_path = headers.get("return-path").and_then(|v| {
        let v = v.trim();
        let inner = match (v.find('<'), v.rfind('>')) {
            (Some(a), Some(b)) if a < b => &v[a + 1..b],
            _ => v,
        };
        clean_email(inner).map(|email| Address { email, name: None })
    });

    let date = root
        .headers
        .iter()
        .find(|h| h.name == HeaderName::Date)
        .and_then(|h| h.value.as_datetime())
        .filter(|d| d.is_valid())
        .and_then(|d| DateTime::<Utc>::from_timestamp(d.to_timestamp(), 0));

    let message_id = headers
        .get("message-id")
        .and_then(|v| extract_ids(v).into_iter().next());
    let in_reply_to = extract_ids(&headers.get_all("in-reply-to").join(" "));
    let references = extract_ids(&headers.get_all("references").join(" "));

    let (text, html, body_part) = bodies(&message, raw, limits, 0);
    let forward_subject = is_forward_subject(&subject);
    let new_text = quote::strip_quoted(&text);
    let forwarded = forward_subject || quote::forward_marker(&text).is_some();

    let (attachments, skipped) = attachments(&message, raw, limits, body_part);
    let robot = classify(headers, &message, raw, &from, &subject);
    let automated = robot.map(|r| r.kind);
    let returned_message_ids = if automated == Some(Automated::DeliveryStatus) {
        returned_ids(&message, raw, &text)
    } else {
        Vec::new()
    };

    Ok(ParsedMail {
        message_id,
        in_reply_to,
        references,
        subject,
        from: Some(from),
        reply_to,
        to,
        cc,
        date,
        text,
        new_text,
        html,
        attachments,
        skipped,
        automated,
        automated_signal: robot.map(|r| r.signal),
        return_path,
        subject_decoded,
        content_hash: content_hash(raw),
        forwarded,
        returned_message_ids,
    })
}

// ---- addresses -------------------------------------------------------------

fn to_address(addr: &mail_parser::Addr<'_>) -> Option<Address> {
    let email = addr.address.as_deref()?;
    let email = clean_email(email)?;
    let name = addr
        .name
        .as_deref()
        .map(|n| clean_line(n).trim_matches(['"', '\'', ' ']).to_owned())
        .filter(|n| !n.is_empty() && !n.eq_ignore_ascii_case(&email));
    Some(Address { email, name })
}

/// Trims, strips angle brackets and lowercases; `None` unless it looks like
/// `local@domain`. The local part may be an RFC 5322 quoted string
/// (`"System Administrator"@example.com`): kept quoted, unless it is a
/// plain dot-atom that needs no quotes (`"jane"@example.com` is
/// `jane@example.com`).
fn clean_email(s: &str) -> Option<String> {
    let s = s
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    let (local, domain) = s.rsplit_once('@')?;
    let bad = |c: char| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"');
    if local.is_empty() || domain.is_empty() || domain.chars().any(bad) {
        return None;
    }
    let local = match local.strip_prefix('"').and_then(|l| l.strip_suffix('"')) {
        Some(inner) => {
            let escaped_ok = {
                let mut chars = inner.chars();
                let mut ok = true;
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => ok &= chars.next().is_some_and(|n| !n.is_control()),
                        '"' => ok = false,
                        c if c.is_control() => ok = false,
                        _ => {}
                    }
                }
                ok
            };
            if !escaped_ok || inner.trim().is_empty() {
                return None;
            }
            if is_dot_atom(inner) {
                inner.to_owned()
            } else {
                format!("\"{inner}\"")
            }
        }
        None if local.chars().any(bad) => return None,
        None => local.to_owned(),
    };
    Some(format!("{local}@{domain}").to_lowercase())
}

/// RFC 5322 dot-atom: atext runs separated by single dots.
fn is_dot_atom(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|atom| {
            !atom.is_empty()
                && atom
                    .chars()
                    .all(|c| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c))
        })
}

fn header_addresses<'a>(
    part: &'a MessagePart<'_>,
    name: &'a HeaderName<'_>,
) -> impl Iterator<Item = Address> + 'a {
    part.headers
        .iter()
        .filter(move |h| &h.name == name)
        .filter_map(|h| h.value.as_address())
        .flat_map(|a| a.iter().filter_map(to_address).collect::<Vec<_>>())
}

fn first_address(part: &MessagePart<'_>, name: &HeaderName<'_>) -> Option<Address> {
    header_addresses(part, name).next()
}

fn all_addresses(part: &MessagePart<'_>, name: &HeaderName<'_>) -> Vec<Address> {
    let mut out: Vec<Address> = Vec::new();
    for a in header_addresses(part, name) {
        if !out.iter().any(|o| o.email == a.email) {
            out.push(a);
        }
    }
    out
}

/// Last resort for a From mail-parser could not read: the first `<...@...>`
/// or bare word with an `@`.
fn fallback_address(value: &str) -> Option<Address> {
    let bracketed = value
        .split('<')
        .skip(1)
        .filter_map(|s| s.split('>').next())
        .find_map(clean_email);
    let email = bracketed.or_else(|| {
        value
            .split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '"' | '(' | ')'))
            .find_map(clean_email)
    })?;
    Some(Address { email, name: None })
}

/// The decoded subject: mail-parser's (RFC 2047 words in any charset),
/// except when the raw header holds 8-bit bytes that are not UTF-8 (no
/// charset can be declared for those): then decoded in the charset
/// guessed from the whole header block and the start of the body.
fn decode_subject(root: &MessagePart<'_>, headers: &RawHeaders<'_>) -> String {
    if let Some(bytes) = headers.raw_value("subject")
        && charset::has_8bit(&bytes)
        && std::str::from_utf8(&bytes).is_err()
    {
        let mut sample = headers.block.to_vec();
        sample.extend_from_slice(&headers.body[..headers.body.len().min(16 * 1024)]);
        return clean_line(&charset::decode_guessing(&bytes, &sample));
    }
    root.headers
        .iter()
        .find(|h| h.name == HeaderName::Subject)
        .and_then(|h| match &h.value {
            HeaderValue::Text(t) => Some(t.to_string()),
            HeaderValue::TextList(list) => Some(list.join(" ")),
            _ => None,
        })
        .map(|s| clean_line(&s))
        .unwrap_or_default()
}

// ---- ids -------------------------------------------------------------------

/// Message ids in a header value: every `<...>`, or without brackets every
/// whitespace/comma-separated word; normalised, deduplicated, in order.
fn extract_ids(value: &str) -> Vec<String> {
    let candidates: Vec<&str> = if value.contains('<') {
        value
            .split('<')
            .skip(1)
            .filter_map(|s| s.split_once('>').map(|(id, _)| id))
            .collect()
    } else {
        value
            .split(|c: char| c.is_whitespace() || c == ',')
            .collect()
    };
    let mut out: Vec<String> = Vec::new();
    for id in candidates.into_iter().filter_map(normalize_message_id) {
        if !out.contains(&id) {
            out.push(id);
        }
    }
    out
}

// ---- bodies ----------------------------------------------------------------

/// One header line for display: control characters removed, whitespace
/// collapsed.
fn clean_line(s: &str) -> String {
    let s: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    collapse_whitespace(&s)
}

/// Body text: `\n` line endings, no control characters but `\n` and `\t`,
/// no leading blank lines or trailing whitespace.
fn clean_text(s: &str) -> String {
    let s = s.replace("\r\n", "\n");
    let s: String = s
        .chars()
        .filter(|&c| c == '\n' || c == '\t' || !c.is_control())
        .collect();
    let s = s.trim_end();
    let first_content = s
        .split('\n')
        .position(|l| !l.trim().is_empty())
        .unwrap_or(0);
    s.split('\n')
        .skip(first_content)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Undoes RFC 3676 `format=flowed`: a line ending in a space continues on
/// the next line of the same quote depth (the signature separator `-- `
/// excepted); space-stuffing is removed; with `delsp=yes` the trailing
/// space is dropped when joining.
fn unflow(text: &str, delsp: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending: Option<(usize, String)> = None;
    let emit = |out: &mut String, depth: usize, content: &str| {
        if depth > 0 {
            out.push_str(&">".repeat(depth));
            out.push(' ');
        }
        out.push_str(content);
        out.push('\n');
    };
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let depth = line.bytes().take_while(|&b| b == b'>').count();
        let content = &line[depth..];
        let content = content.strip_prefix(' ').unwrap_or(content);
        let is_flowed = content.ends_with(' ') && content != "-- ";
        let mut current = match pending.take() {
            Some((d, buf)) if d == depth => buf,
            Some((d, buf)) => {
                emit(&mut out, d, &buf);
                String::new()
            }
            None => String::new(),
        };
        if is_flowed {
            current.push_str(if delsp {
                &content[..content.len() - 1]
            } else {
                content
            });
            pending = Some((depth, current));
        } else {
            current.push_str(content);
            emit(&mut out, depth, &current);
        }
    }
    if let Some((d, buf)) = pending {
        emit(&mut out, d, &buf);
    }
    out
}

fn cap_chars(mut s: String, max: usize) -> String {
    if let Some((idx, _)) = s.char_indices().nth(max) {
        s.truncate(idx);
    }
    s
}

/// The readable text of a text/plain (format=flowed undone) or text/html
/// (converted) part; `None` for other bodies. Text in an undeclared or
/// wrongly declared charset is repaired first ([`repaired_text`]).
fn part_text(part: &MessagePart<'_>, raw: &[u8]) -> Option<String> {
    match &part.body {
        PartType::Text(t) => {
            let t = repaired_text(part, raw, t);
            let flowed = part.content_type().and_then(|ct| {
                let format = ct.attribute("format")?;
                format.eq_ignore_ascii_case("flowed").then(|| {
                    ct.attribute("delsp")
                        .is_some_and(|d| d.eq_ignore_ascii_case("yes"))
                })
            });
            Some(match flowed {
                Some(delsp) => clean_text(&unflow(&t, delsp)),
                None => clean_text(&t),
            })
        }
        PartType::Html(h) => Some(clean_text(&html_to_text(&repaired_text(part, raw, h)))),
        _ => None,
    }
}

/// A text part's decoded text, or its bytes decoded again in a guessed
/// charset when the declared one cannot be right: no charset (or
/// US-ASCII) declared for 8-bit bytes, bytes the declared charset cannot
/// decode (U+FFFD), or a Latin charset declared for text that reads like
/// another single-byte charset ([`charset::looks_misdecoded`]).
fn repaired_text<'t>(
    part: &MessagePart<'_>,
    raw: &[u8],
    decoded: &'t str,
) -> std::borrow::Cow<'t, str> {
    use std::borrow::Cow;
    let declared = part
        .content_type()
        .and_then(|ct| ct.attribute("charset"))
        .map(|c| c.trim().to_ascii_lowercase());
    let undeclared = matches!(
        declared.as_deref(),
        None | Some("us-ascii" | "ascii" | "ansi_x3.4-1968")
    );
    let latin = matches!(
        declared.as_deref(),
        Some("iso-8859-1" | "latin1" | "iso_8859-1" | "windows-1252" | "cp1252")
    );
    let suspicious =
        undeclared || decoded.contains('\u{fffd}') || (latin && charset::looks_misdecoded(decoded));
    if !suspicious {
        return Cow::Borrowed(decoded);
    }
    let Some(bytes) = transfer_decoded(part, raw) else {
        return Cow::Borrowed(decoded);
    };
    if !charset::has_8bit(&bytes) {
        return Cow::Borrowed(decoded);
    }
    let guessed = charset::guess(&bytes);
    if latin && !undeclared && guessed == encoding_rs::WINDOWS_1252 {
        return Cow::Borrowed(decoded);
    }
    Cow::Owned(charset::decode_guessing(&bytes, &bytes))
}

/// A part's body bytes with the transfer encoding undone, from the raw
/// message; `None` when its offsets do not point into `raw` (a part of a
/// message that was itself encoded).
fn transfer_decoded(part: &MessagePart<'_>, raw: &[u8]) -> Option<Vec<u8>> {
    let body = raw.get(part.offset_body as usize..part.offset_end as usize)?;
    match part.encoding {
        mail_parser::Encoding::QuotedPrintable => {
            mail_parser::decoders::quoted_printable::quoted_printable_decode(body)
        }
        mail_parser::Encoding::Base64 => mail_parser::decoders::base64::base64_decode(body),
        mail_parser::Encoding::None => Some(body.to_vec()),
    }
}

/// An attachment that is really the body: mail-parser lists the text part
/// of a multipart without its closing boundary as an attachment. Text/plain
/// or text/html (or no Content-Type), no filename, not
/// `Content-Disposition: attachment`.
fn is_body_like_attachment(part: &MessagePart<'_>) -> bool {
    let typed_as_body = match part.content_type() {
        None => true,
        Some(ct) => {
            ct.ctype().eq_ignore_ascii_case("text")
                && ct.subtype().is_none_or(|s| {
                    s.eq_ignore_ascii_case("plain") || s.eq_ignore_ascii_case("html")
                })
        }
    };
    typed_as_body
        && matches!(part.body, PartType::Text(_) | PartType::Html(_))
        && part.attachment_name().is_none_or(|n| n.trim().is_empty())
        && !part
            .content_disposition()
            .is_some_and(|d| d.is_attachment())
}

/// `text`, `html`, and the index in `message.attachments` of an attachment
/// used as the body instead (see [`is_body_like_attachment`]).
fn bodies(
    message: &Message<'_>,
    raw: &[u8],
    limits: &Limits,
    depth: usize,
) -> (String, Option<String>, Option<usize>) {
    let mut plain = Vec::new();
    for &id in &message.text_body {
        if let Some(text) = message
            .parts
            .get(id as usize)
            .and_then(|p| part_text(p, raw))
        {
            plain.push(text);
        }
    }
    let html_parts: Vec<&str> = message
        .html_body
        .iter()
        .filter_map(
            |&id| match message.parts.get(id as usize).map(|p| &p.body) {
                Some(PartType::Html(h)) => Some(h.as_ref()),
                _ => None,
            },
        )
        .collect();
    let mut html = (!html_parts.is_empty()).then(|| html_parts.join("\n"));

    let mut text = plain
        .into_iter()
        .filter(|t| !t.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n\n");
    if text.trim().is_empty()
        && let Some(html) = &html
    {
        text = clean_text(&html_to_text(html));
    }
    let mut body_part = None;
    if text.trim().is_empty() {
        let found = message
            .attachments
            .iter()
            .enumerate()
            .find_map(|(index, &id)| {
                let part = message.parts.get(id as usize)?;
                if !is_body_like_attachment(part) {
                    return None;
                }
                // The unterminated part is Text even when declared text/html.
                let declared_html = part
                    .content_type()
                    .is_some_and(|ct| ct.subtype().is_some_and(|s| s.eq_ignore_ascii_case("html")));
                let (found, source) = match &part.body {
                    PartType::Text(h) | PartType::Html(h) if declared_html => {
                        (clean_text(&html_to_text(h)), Some(h.to_string()))
                    }
                    _ => (part_text(part, raw)?, None),
                };
                (!found.trim().is_empty()).then_some((index, found, source))
            });
        if let Some((index, found, source)) = found {
            text = found;
            html = html.or(source);
            body_part = Some(index);
        }
    }
    for block in forwarded_messages(message, raw, limits, depth) {
        if !text.trim().is_empty() {
            text.push_str("\n\n");
        }
        text.push_str(&block);
    }
    let text = cap_chars(text, limits.max_text_chars);
    (text.trim_end().to_owned(), html, body_part)
}

/// Messages forwarded as attachments (`message/rfc822`), each shown as a
/// forwarded-message block: its sender, date, subject and text. Not for a
/// report (a bounce's returned message is no request), and at most
/// [`FORWARD_DEPTH`] levels deep.
fn forwarded_messages(
    message: &Message<'_>,
    raw: &[u8],
    limits: &Limits,
    depth: usize,
) -> Vec<String> {
    const FORWARD_DEPTH: usize = 3;
    let is_report = message
        .parts
        .first()
        .and_then(|p| p.content_type())
        .is_some_and(|ct| {
            ct.ctype().eq_ignore_ascii_case("multipart")
                && ct
                    .subtype()
                    .is_some_and(|s| s.eq_ignore_ascii_case("report"))
        });
    if depth >= FORWARD_DEPTH || is_report {
        return Vec::new();
    }
    let mut out = Vec::new();
    for &id in &message.attachments {
        let Some(part) = message.parts.get(id as usize) else {
            continue;
        };
        let is_message = part.content_type().is_some_and(|ct| {
            ct.ctype().eq_ignore_ascii_case("message")
                && ct.subtype().is_some_and(|s| {
                    s.eq_ignore_ascii_case("rfc822") || s.eq_ignore_ascii_case("global")
                })
        });
        if !is_message || !matches!(part.body, PartType::Message(_)) {
            continue;
        }
        let bytes = part_bytes(part, raw);
        let headers = RawHeaders::scan(bytes);
        let Some(inner) = MessageParser::default().parse(bytes) else {
            continue;
        };
        let Some(root) = inner.parts.first() else {
            continue;
        };
        let mut block = String::from("---------- Forwarded message ---------\n");
        if let Some(from) = first_address(root, &HeaderName::From) {
            match &from.name {
                Some(name) => block.push_str(&format!("From: {name} <{}>\n", from.email)),
                None => block.push_str(&format!("From: {}\n", from.email)),
            }
        }
        if let Some(date) = headers.get("date") {
            block.push_str(&format!("Date: {}\n", clean_line(date)));
        }
        let subject = decode_subject(root, &headers);
        if !subject.is_empty() {
            block.push_str(&format!("Subject: {subject}\n"));
        }
        let (text, _, _) = bodies(&inner, bytes, limits, depth + 1);
        if !text.trim().is_empty() {
            block.push('\n');
            block.push_str(&text);
        }
        out.push(block.trim_end().to_owned());
    }
    out
}

// ---- attachments -------------------------------------------------------------

/// The decoded bytes of an attachment part.
fn part_bytes<'a>(part: &'a MessagePart<'_>, raw: &'a [u8]) -> &'a [u8] {
    match &part.body {
        PartType::Text(t) | PartType::Html(t) => t.as_bytes(),
        PartType::Binary(b) | PartType::InlineBinary(b) => b.as_ref(),
        PartType::Message(m) => {
            if part.encoding == mail_parser::Encoding::None {
                // Parsed in place: `m.raw_message` is the whole outer
                // message, so slice by offsets (never call methods on `m`:
                // they index `parts[0]`).
                raw.get(part.offset_body as usize..part.offset_end as usize)
                    .unwrap_or_default()
            } else {
                m.raw_message.as_ref()
            }
        }
        PartType::Multipart(_) => &[],
    }
}

fn part_content_type(part: &MessagePart<'_>) -> String {
    let declared = part.content_type().map(|ct| {
        let sub = ct.subtype().unwrap_or("octet-stream");
        format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase()
    });
    match &part.body {
        PartType::Text(_) | PartType::Html(_) => {
            let base = declared.unwrap_or_else(|| "text/plain".to_owned());
            format!("{base}; charset=utf-8")
        }
        PartType::Message(_) => declared.unwrap_or_else(|| "message/rfc822".to_owned()),
        _ => declared.unwrap_or_else(|| "application/octet-stream".to_owned()),
    }
}

/// The attachments kept and skipped; `body_part` (an index into
/// `message.attachments`) was used as the body and is left out.
fn attachments(
    message: &Message<'_>,
    raw: &[u8],
    limits: &Limits,
    body_part: Option<usize>,
) -> (Vec<Attachment>, Vec<Skipped>) {
    let mut kept = Vec::new();
    let mut skipped = Vec::new();
    for (index, &id) in message.attachments.iter().enumerate() {
        if body_part == Some(index) {
            continue;
        }
        let Some(part) = message.parts.get(id as usize) else {
            continue;
        };
        if matches!(part.body, PartType::Multipart(_)) {
            continue;
        }
        let content_type = part_content_type(part);
        let fallback = if content_type.starts_with("message/rfc822") {
            format!("attachment-{}.eml", index + 1)
        } else {
            format!("attachment-{}", index + 1)
        };
        let name = rfc2231_name(part, raw);
        let name = name.as_deref().or(part.attachment_name()).unwrap_or("");
        let filename = sanitize_filename(name, &fallback);
        let bytes = part_bytes(part, raw);
        if bytes.len() > limits.max_attachment_bytes {
            skipped.push(Skipped {
                filename,
                size: bytes.len(),
                reason: format!(
                    "attachment too large ({} bytes, limit {})",
                    bytes.len(),
                    limits.max_attachment_bytes
                ),
            });
            continue;
        }
        if kept.len() >= limits.max_attachments {
            skipped.push(Skipped {
                filename,
                size: bytes.len(),
                reason: format!("too many attachments (limit {})", limits.max_attachments),
            });
            continue;
        }
        let disposition = part.content_disposition();
        let is_attachment = disposition.is_some_and(|d| d.is_attachment());
        let inline = disposition.is_some_and(|d| d.is_inline())
            || (!is_attachment
                && (matches!(part.body, PartType::InlineBinary(_)) || part.content_id().is_some()));
        kept.push(Attachment {
            filename,
            content_type,
            bytes: bytes.to_vec(),
            inline,
        });
    }
    (kept, skipped)
}

/// The RFC 2231 name of a part (`filename*0*=charset'lang'%XX..;
/// filename*1*=...`, or `name*` in Content-Type), all continuations joined
/// before the bytes are decoded in the first one's charset: mail-parser
/// 0.11 decodes each continuation on its own, which breaks a multi-byte
/// or non-UTF-8 name split across them. `None` without such parameters.
fn rfc2231_name(part: &MessagePart<'_>, raw: &[u8]) -> Option<String> {
    let block = raw.get(part.offset_header as usize..part.offset_body as usize)?;
    let headers = RawHeaders::scan(block);
    [
        ("content-disposition", "filename"),
        ("content-type", "name"),
    ]
    .into_iter()
    .find_map(|(header, param)| rfc2231_param(headers.get(header)?, param))
}

/// The value of the RFC 2231 parameter `name*` / `name*0*`, `name*1`, ...
/// in a header value; `None` when there is none.
pub(crate) fn rfc2231_param(value: &str, name: &str) -> Option<String> {
    let mut pieces: Vec<(u32, bool, String)> = Vec::new();
    for param in value.split(';').skip(1) {
        let Some((key, val)) = param.split_once('=') else {
            continue;
        };
        let key = key.trim().to_ascii_lowercase();
        let Some(rest) = key.strip_prefix(name).and_then(|r| r.strip_prefix('*')) else {
            continue;
        };
        let val = val.trim().trim_matches('"').to_owned();
        let (index, extended) = match rest {
            "" => (0, true),
            r => {
                let (n, ext) = match r.strip_suffix('*') {
                    Some(n) => (n, true),
                    None => (r, false),
                };
                (n.parse().ok()?, ext)
            }
        };
        pieces.push((index, extended, val));
    }
    if pieces.is_empty() {
        return None;
    }
    pieces.sort_by_key(|(i, _, _)| *i);
    let mut charset = String::from("utf-8");
    let mut bytes = Vec::new();
    for (k, (_, extended, val)) in pieces.iter().enumerate() {
        let mut val = val.as_str();
        if k == 0 && *extended {
            // charset'language'value
            let mut parts = val.splitn(3, '\'');
            if let (Some(cs), Some(_), Some(v)) = (parts.next(), parts.next(), parts.next()) {
                if !cs.is_empty() {
                    charset = cs.to_owned();
                }
                val = v;
            }
        }
        if *extended {
            let b = val.as_bytes();
            let mut i = 0;
            while i < b.len() {
                let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
                if b[i] == b'%'
                    && i + 2 < b.len()
                    && let (Some(hi), Some(lo)) = (hex(b[i + 1]), hex(b[i + 2]))
                {
                    bytes.push(hi * 16 + lo);
                    i += 3;
                } else {
                    bytes.push(b[i]);
                    i += 1;
                }
            }
        } else {
            bytes.extend_from_slice(val.as_bytes());
        }
    }
    let text = match encoding_rs::Encoding::for_label(charset.trim().as_bytes()) {
        Some(enc) => enc.decode_without_bom_handling(&bytes).0.into_owned(),
        None => charset::decode_guessing(&bytes, &bytes),
    };
    Some(text)
}

/// A filename safe to store and offer for download: the last path
/// component, without control characters, with `<>:"|?*` replaced by `_`,
/// without leading dots and trailing dots/spaces, at most 200 characters
/// (keeping a short extension); `fallback` when nothing is left.
pub fn sanitize_filename(name: &str, fallback: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| {
            if matches!(c, '<' | '>' | ':' | '"' | '|' | '?' | '*') {
                '_'
            } else {
                c
            }
        })
        .collect();
    let cleaned = collapse_whitespace(&cleaned);
    let cleaned = cleaned
        .trim_start_matches(['.', ' '])
        .trim_end_matches(['.', ' '])
        .to_owned();
    if cleaned.is_empty() {
        return fallback.to_owned();
    }
    const MAX: usize = 200;
    if cleaned.chars().count() <= MAX {
        return cleaned;
    }
    match cleaned.rsplit_once('.') {
        Some((stem, ext)) if !ext.is_empty() && ext.chars().count() <= 16 => {
            let keep = MAX - ext.chars().count() - 1;
            let stem: String = stem.chars().take(keep).collect();
            format!("{stem}.{ext}")
        }
        _ => cleaned.chars().take(MAX).collect(),
    }
}

// ---- returned message ids ---------------------------------------------------

/// See the module docs (`returned_message_ids`).
fn returned_ids(message: &Message<'_>, raw: &[u8], text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for returned in embedded_messages(message, raw) {
        let headers = RawHeaders::scan(returned);
        let mut ids = headers
            .get("message-id")
            .map(extract_ids)
            .unwrap_or_default();
        ids.extend(extract_ids(&headers.get_all("in-reply-to").join(" ")));
        ids.extend(extract_ids(&headers.get_all("references").join(" ")));
        push_unique(&mut out, ids);
    }
    if out.is_empty() {
        out = inline_returned_ids(text);
    }
    out
}

/// The ids on `Message-ID:`, then `In-Reply-To:`, then `References:`
/// lines anywhere in a report's text (`>` quoting and indentation ignored;
/// a following line starting with `<` continues the field).
fn inline_returned_ids(text: &str) -> Vec<String> {
    let mut fields: [Vec<String>; 3] = Default::default();
    let mut current: Option<usize> = None;
    for line in text.lines() {
        let line = line.trim_start_matches(['>', ' ', '\t']);
        if let Some(slot) = current
            && line.starts_with('<')
        {
            fields[slot].push(line.to_owned());
            continue;
        }
        current = None;
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let slot = match name.trim().to_ascii_lowercase().as_str() {
            "message-id" => 0,
            "in-reply-to" => 1,
            "references" => 2,
            _ => continue,
        };
        fields[slot].push(value.to_owned());
        current = Some(slot);
    }
    let mut out: Vec<String> = Vec::new();
    for field in &fields {
        push_unique(&mut out, extract_ids(&field.join(" ")));
    }
    out
}

fn push_unique(out: &mut Vec<String>, ids: Vec<String>) {
    for id in ids {
        if !out.contains(&id) {
            out.push(id);
        }
    }
}

// ---- automated -------------------------------------------------------------

/// The machine signals of a message: see [`super::robots`].
fn classify(
    headers: &RawHeaders<'_>,
    message: &Message<'_>,
    raw: &[u8],
    from: &Address,
    subject: &str,
) -> Option<super::robots::Robot> {
    let part_types: Vec<String> = message
        .parts
        .iter()
        .filter_map(|p| {
            let ct = p.content_type()?;
            Some(format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("")).to_ascii_lowercase())
        })
        .collect();
    let report = part_types.first().is_some_and(|t| t == "multipart/report")
        || message.parts.iter().any(|p| {
            p.content_type().is_some_and(|ct| {
                ct.ctype().eq_ignore_ascii_case("multipart")
                    && ct
                        .subtype()
                        .is_some_and(|s| s.eq_ignore_ascii_case("report"))
            })
        });
    // A person forwarding an automatic answer ("Fwd: ...") asks about it.
    let embedded_auto_submitted = !is_forward_subject(subject)
        && embedded_messages(message, raw).any(|bytes| {
            RawHeaders::scan(bytes)
                .get("auto-submitted")
                .is_some_and(|v| {
                    let v = v.split(';').next().unwrap_or("").trim();
                    !v.is_empty() && !v.eq_ignore_ascii_case("no")
                })
        });
    let lookup = |name: &str| headers.get(name);
    super::robots::classify(&super::robots::Signals {
        header: &lookup,
        from: &from.email,
        from_name: from.name.as_deref(),
        subject,
        part_types: &part_types,
        report,
        embedded_auto_submitted,
    })
}

/// The bytes of every attached message (`message/rfc822`, `message/global`)
/// and returned header block (`text/rfc822-headers` ...).
fn embedded_messages<'a>(
    message: &'a Message<'_>,
    raw: &'a [u8],
) -> impl Iterator<Item = &'a [u8]> + 'a {
    message.parts.iter().filter_map(move |part| {
        let ct = part.content_type()?;
        let ctype = ct.ctype().to_ascii_lowercase();
        let sub = ct.subtype().unwrap_or("").to_ascii_lowercase();
        match (ctype.as_str(), sub.as_str()) {
            ("text" | "message", "rfc822-headers") | ("message", "global-headers") => {
                Some(match &part.body {
                    PartType::Text(t) | PartType::Html(t) => t.as_bytes(),
                    _ => part_bytes(part, raw),
                })
            }
            ("message", "rfc822" | "global") => Some(part_bytes(part, raw)),
            _ => None,
        }
    })
}

// ---- raw header scanning and the content hash ------------------------------

/// The top-level header block, scanned without a MIME parser.
struct RawHeaders<'a> {
    /// Lowercased names and unfolded, trimmed values, in order.
    fields: Vec<(String, String)>,
    /// The header block's bytes.
    block: &'a [u8],
    /// Everything after the blank line ending the header block; the whole
    /// input when there is no header block.
    body: &'a [u8],
}

impl<'a> RawHeaders<'a> {
    fn scan(raw: &'a [u8]) -> Self {
        let mut pos = raw
            .iter()
            .position(|&b| b != b'\r' && b != b'\n')
            .unwrap_or(raw.len());
        let start = pos;
        // An mbox "From " separator line is not a header.
        if raw[pos..].starts_with(b"From ") {
            pos = raw[pos..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(raw.len(), |n| pos + n + 1);
        }
        let mut fields: Vec<(String, String)> = Vec::new();
        let mut end = raw.len();
        let mut body_start = raw.len();
        while pos < raw.len() {
            let line_end = raw[pos..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(raw.len(), |n| pos + n);
            let line = &raw[pos..line_end];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let next = (line_end + 1).min(raw.len());
            if line.is_empty() {
                end = pos;
                body_start = next;
                break;
            }
            if matches!(line[0], b' ' | b'\t') {
                match fields.last_mut() {
                    Some((_, value)) => {
                        let more = String::from_utf8_lossy(line);
                        value.push(' ');
                        value.push_str(more.trim());
                    }
                    None => return Self::none(raw),
                }
            } else {
                match parse_field(line) {
                    Some(field) => fields.push(field),
                    None if fields.is_empty() => return Self::none(raw),
                    // A broken line inside the block: ignored, as mail-parser does.
                    None => {}
                }
            }
            pos = next;
        }
        if fields.is_empty() {
            return Self::none(raw);
        }
        Self {
            fields,
            block: &raw[start..end.max(start)],
            body: &raw[body_start.min(raw.len())..],
        }
    }

    fn none(raw: &'a [u8]) -> Self {
        Self {
            fields: Vec::new(),
            block: &[],
            body: raw,
        }
    }

    /// The first value of a header (lowercase name) as raw bytes, unfolded
    /// and trimmed: for headers whose bytes are not UTF-8.
    fn raw_value(&self, name: &str) -> Option<Vec<u8>> {
        let mut out: Option<Vec<u8>> = None;
        for line in self.block.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if let Some(value) = out.as_mut() {
                if matches!(line.first(), Some(b' ' | b'\t')) {
                    value.push(b' ');
                    value.extend_from_slice(line.trim_ascii());
                    continue;
                }
                break;
            }
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            if line[..colon]
                .trim_ascii_end()
                .eq_ignore_ascii_case(name.as_bytes())
            {
                out = Some(line[colon + 1..].trim_ascii().to_vec());
            }
        }
        out
    }

    /// The first value of a header (lowercase name).
    fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn get_all(&self, name: &str) -> Vec<&str> {
        self.fields
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// `Name: value` with a printable-ASCII name (spaces before the colon
/// tolerated).
fn parse_field(line: &[u8]) -> Option<(String, String)> {
    let colon = line.iter().position(|&b| b == b':')?;
    let name = line[..colon].trim_ascii_end();
    if name.is_empty() || !name.iter().all(|&b| (33..=126).contains(&b)) {
        return None;
    }
    let name = String::from_utf8_lossy(name).to_ascii_lowercase();
    let value = String::from_utf8_lossy(&line[colon + 1..])
        .trim()
        .to_owned();
    Some((name, value))
}

/// See the module docs.
pub fn content_hash(raw: &[u8]) -> String {
    let headers = RawHeaders::scan(raw);
    let message_id = headers
        .get("message-id")
        .map(|v| {
            extract_ids(v)
                .into_iter()
                .next()
                .unwrap_or_else(|| collapse_whitespace(v))
        })
        .unwrap_or_default();
    let field = |name: &str| {
        headers
            .get(name)
            .map(collapse_whitespace)
            .unwrap_or_default()
    };

    let mut body = Vec::with_capacity(headers.body.len());
    let mut bytes = headers.body.iter().peekable();
    while let Some(&b) = bytes.next() {
        if b == b'\r' && bytes.peek() == Some(&&b'\n') {
            continue;
        }
        body.push(b);
    }
    let body = body.trim_ascii_end();

    let (from, date, subject) = (field("from"), field("date"), field("subject"));
    let mut hasher = Sha256::new();
    let parts: [(&[u8], &[u8]); 5] = [
        (b"message-id", message_id.as_bytes()),
        (b"from", from.as_bytes()),
        (b"date", date.as_bytes()),
        (b"subject", subject.as_bytes()),
        (b"body", body),
    ];
    for (label, value) in parts {
        hasher.update(label);
        hasher.update((value.len() as u64).to_be_bytes());
        hasher.update(value);
    }
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(raw: &str) -> ParsedMail {
        match parse(raw.as_bytes(), &Limits::default()) {
            Ok(m) => m,
            Err(e) => panic!("parse failed: {e}\n{raw}"),
        }
    }

    fn crlf(s: &str) -> String {
        s.replace('\n', "\r\n")
    }

    const ALTERNATIVE: &str = r#"Received: from mx.example by mx2.example; Tue, 3 Mar 2026 10:00:01 +0000
Return-Path: <bob@client.example>
Message-ID: <CAF=abc123@mail.gmail.com>
In-Reply-To: <reply-1@msp.example> (Help Desk's message)
References: <root@msp.example>
 <reply-1@msp.example>, <root@msp.example>
Date: Tue, 03 Mar 2026 11:00:00 +0100
From: "Bob Builder" <Bob.Builder@Client.Example>
Reply-To: bob.private@client.example
To: Help Desk <help@msp.example>, second@msp.example
Cc: Alice <alice@client.example>, not-an-address
Subject: Re: [#1042-K7Q2XP] Printer on 2nd floor
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="000000000000abcd"

--000000000000abcd
Content-Type: text/plain; charset="UTF-8"

It prints again, thanks!

On Tue, 3 Mar 2026 at 09:00, Help Desk <help@msp.example> wrote:

> Please turn it off and on again.
>
--000000000000abcd
Content-Type: text/html; charset="UTF-8"

<div dir="ltr">It prints again, thanks!</div><br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">On Tue, 3 Mar 2026 at 09:00, Help Desk &lt;<a href="mailto:help@msp.example">help@msp.example</a>&gt; wrote:<br></div><blockquote class="gmail_quote">Please turn it off and on again.</blockquote></div>
--000000000000abcd--
"#;

    #[test]
    fn multipart_alternative() {
        let m = p(&crlf(ALTERNATIVE));
        assert_eq!(m.message_id.as_deref(), Some("<CAF=abc123@mail.gmail.com>"));
        assert_eq!(m.in_reply_to, vec!["<reply-1@msp.example>"]);
        assert_eq!(
            m.references,
            vec!["<root@msp.example>", "<reply-1@msp.example>"]
        );
        assert_eq!(m.subject, "Re: [#1042-K7Q2XP] Printer on 2nd floor");
        assert_eq!(
            m.from,
            Some(Address {
                email: "bob.builder@client.example".into(),
                name: Some("Bob Builder".into())
            })
        );
        assert_eq!(
            m.reply_to.as_ref().map(|a| a.email.as_str()),
            Some("bob.private@client.example")
        );
        assert_eq!(
            m.to.iter().map(|a| a.email.as_str()).collect::<Vec<_>>(),
            vec!["help@msp.example", "second@msp.example"]
        );
        assert_eq!(m.to[0].name.as_deref(), Some("Help Desk"));
        assert_eq!(m.cc.len(), 1);
        assert_eq!(
            m.date.map(|d| d.to_rfc3339()).as_deref(),
            Some("2026-03-03T10:00:00+00:00")
        );
        assert!(
            m.text
                .starts_with("It prints again, thanks!\n\nOn Tue, 3 Mar 2026")
        );
        assert!(!m.text.contains('\r'));
        assert_eq!(m.new_text, "It prints again, thanks!");
        assert!(m.html.as_deref().is_some_and(|h| h.contains("gmail_quote")));
        assert!(m.attachments.is_empty() && m.skipped.is_empty());
        assert_eq!(m.automated, None);
        assert!(!m.forwarded);
        assert_eq!(m.content_hash, content_hash(ALTERNATIVE.as_bytes()));
        assert_eq!(m.content_hash.len(), 64);
    }

    #[test]
    fn html_only() {
        let raw = r#"From: Carol <carol@client.example>
To: help@msp.example
Subject: VPN
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: quoted-printable

<html><head><style>body{font:Arial}</style><title>x</title></head><body>=
<p>The VPN&nbsp;drops every <b>5&nbsp;minutes</b>.</p><ul><li>Laptop: =
X1</li><li>See <a href=3D"https://status.example/vpn">status page</a></li></=
ul></body></html>
"#;
        let m = p(raw);
        assert_eq!(
            m.text,
            "The VPN drops every 5 minutes.\n\n• Laptop: X1\n• See status page [1]\n\n[1] https://status.example/vpn"
        );
        assert_eq!(m.new_text, m.text);
        assert!(m.html.is_some());
    }

    const ATTACHMENTS: &str = r#"From: dan@client.example
To: help@msp.example
Subject: Invoice question
Content-Type: multipart/mixed; boundary="b1"

--b1
Content-Type: multipart/related; boundary="b2"

--b2
Content-Type: text/html; charset=utf-8

<p>See the screenshot <img src="cid:shot@x"></p>
--b2
Content-Type: image/png
Content-ID: <shot@x>
Content-Disposition: inline; filename="shot.png"
Content-Transfer-Encoding: base64

iVBORw0KGgo=
--b2--
--b1
Content-Type: application/pdf
Content-Disposition: attachment;
 filename*=UTF-8''Rechnung%20M%C3%A4rz.pdf
Content-Transfer-Encoding: base64

JVBERi0xLjQgZmFrZSBwZGYgYnl0ZXM=
--b1
Content-Type: text/plain; name="passwd"
Content-Disposition: attachment; filename="../../etc/passwd"
Content-Transfer-Encoding: base64

cm9vdDp4OjA6MA==
--b1
Content-Type: application/octet-stream
Content-Disposition: attachment;
 filename*=UTF-8''C%3A%5CUsers%5Cdan%5Cevil%5C%01name.bin

abc
--b1
Content-Type: application/octet-stream
Content-Disposition: attachment

xyz
--b1--
"#;

    #[test]
    fn attachments_and_filenames() {
        let m = p(ATTACHMENTS);
        assert_eq!(m.text, "See the screenshot");
        let names: Vec<&str> = m.attachments.iter().map(|a| a.filename.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "shot.png",
                "Rechnung März.pdf",
                "passwd",
                "name.bin",
                "attachment-5"
            ]
        );
        let shot = &m.attachments[0];
        assert!(shot.inline);
        assert_eq!(shot.content_type, "image/png");
        assert_eq!(shot.bytes, b"\x89PNG\r\n\x1a\n");
        let pdf = &m.attachments[1];
        assert!(!pdf.inline);
        assert_eq!(pdf.content_type, "application/pdf");
        assert_eq!(pdf.bytes, b"%PDF-1.4 fake pdf bytes");
        assert_eq!(m.attachments[2].bytes, b"root:x:0:0");
        assert_eq!(m.attachments[2].content_type, "text/plain; charset=utf-8");
        assert!(m.skipped.is_empty());
    }

    #[test]
    fn limits_skip_attachments() {
        let limits = Limits {
            max_attachment_bytes: 12,
            max_attachments: 2,
            max_text_chars: 10,
        };
        let m = parse(ATTACHMENTS.as_bytes(), &limits).expect("parses");
        // The 23-byte PDF is too large; after two kept, the rest are skipped.
        assert_eq!(m.attachments.len(), 2);
        assert_eq!(m.attachments[0].filename, "shot.png");
        assert_eq!(m.attachments[1].filename, "passwd");
        assert_eq!(m.skipped.len(), 3);
        assert_eq!(m.skipped[0].filename, "Rechnung März.pdf");
        assert_eq!(m.skipped[0].size, 23);
        assert!(m.skipped[0].reason.contains("too large"));
        assert!(m.skipped[1].reason.contains("too many"));
        // text capped at 10 characters
        assert_eq!(m.text, "See the sc");
    }

    #[test]
    fn encoded_headers_in_many_charsets() {
        let cases = [
            (
                "=?UTF-8?B?RHJ1Y2tlciBnZWh0IG5pY2h0IOKAkyBHcsO8w59l?=",
                "Drucker geht nicht – Grüße",
            ),
            ("=?ISO-8859-1?Q?Gr=FC=DFe_aus_K=F6ln?=", "Grüße aus Köln"),
            (
                "=?ISO-2022-JP?B?GyRCJVclaiVzJT8hPCQsMnUkbCReJDckPxsoQg==?=",
                "プリンターが壊れました",
            ),
            ("=?GB2312?B?tPLTobv6ucrVzw==?=", "打印机故障"),
            (
                "=?KOI8-R?B?8NLJztTF0iDOxSDSwcLP1MHF1A==?=",
                "Принтер не работает",
            ),
            (
                "=?windows-1252?Q?=93Quote=94_=80?= and =?utf-8?q?more?=",
                "“Quote” € and more",
            ),
        ];
        for (encoded, expected) in cases {
            let raw = format!(
                "From: =?ISO-2022-JP?B?GyRCRURDZkJATzobKEI=?= <taro@example.jp>\nSubject: {encoded}\n\nbody\n"
            );
            let m = p(&raw);
            assert_eq!(m.subject, expected, "{encoded}");
            assert_eq!(m.from.and_then(|f| f.name).as_deref(), Some("田中太郎"));
        }
        let m = p("From: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <jm@example.de>\n\nx\n");
        assert_eq!(
            m.from.and_then(|f| f.name).as_deref(),
            Some("Jürgen Müller")
        );
    }

    #[test]
    fn body_charsets() {
        let raw = "From: a@example.com\nContent-Type: text/plain; charset=windows-1252\nContent-Transfer-Encoding: quoted-printable\n\nPreis: 100 =80 =96 =93zitiert=94 Gr=FC=DFe=\n weiter\n";
        assert_eq!(p(raw).text, "Preis: 100 € – “zitiert” Grüße weiter");
        let raw = "From: a@example.com\nContent-Type: text/plain; charset=KOI8-R\nContent-Transfer-Encoding: base64\n\n8NLJztTF0iDOxSDSwcLP1MHF1A==\n";
        assert_eq!(p(raw).text, "Принтер не работает");
        let raw = "From: a@example.com\nContent-Type: text/plain; charset=ISO-2022-JP\n\n\x1b$B%W%j%s%?!<\x1b(B\n";
        assert_eq!(p(raw).text, "プリンター");
        let raw =
            "From: a@example.com\nContent-Type: text/plain; charset=utf-7\n\nHi Mom -+Jjo--!\n";
        assert_eq!(p(raw).text, "Hi Mom -☺-!");
    }

    #[test]
    fn minimal_message_is_fine() {
        let m = p("From: someone@example.com\n");
        assert_eq!(m.message_id, None);
        assert_eq!(m.date, None);
        assert_eq!(m.subject, "");
        assert_eq!(m.text, "");
        assert_eq!(m.new_text, "");
        assert_eq!(m.html, None);
        assert!(m.in_reply_to.is_empty() && m.references.is_empty());

        let m = p(
            "From: someone@example.com\nMessage-ID: garbage\nDate: not a date\nSubject: hi\n\ntext\0with nul\n",
        );
        assert_eq!(m.message_id, None);
        assert_eq!(m.date, None);
        assert_eq!(m.text, "textwith nul");
    }

    #[test]
    fn replies_from_common_clients() {
        // Gmail, plain text, wrapped attribution.
        let gmail = "From: bob@client.example\nSubject: Re: x\n\nIt works now.\n\nOn Tue, 3 Mar 2026 at 10:00, Help Desk <\nhelp@msp.example> wrote:\n\n> Try again.\n";
        assert_eq!(p(gmail).new_text, "It works now.");

        // Outlook, HTML only, header block after an <hr>.
        let outlook = r#"From: Bob <bob@client.example>
Subject: RE: [#1042-K7Q2XP] Printer
Content-Type: text/html; charset="us-ascii"

<html><head><style>p{margin:0}</style></head><body>
<div>Printer works again, thanks.</div>
<div><br></div>
<hr style="display:inline-block;width:98%" tabindex="-1">
<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri"><b>From:</b> Help Desk &lt;help@msp.example&gt;<br>
<b>Sent:</b> Tuesday, March 3, 2026 10:00 AM<br>
<b>To:</b> Bob &lt;bob@client.example&gt;<br>
<b>Subject:</b> RE: [#1042-K7Q2XP] Printer</font>
<div>&nbsp;</div></div>
<div>Please restart the printer.</div>
</body></html>
"#;
        let m = p(outlook);
        assert_eq!(m.new_text, "Printer works again, thanks.");
        assert!(m.text.contains("Please restart the printer."));

        // Outlook, plain text, "-----Original Message-----".
        let outlook_plain = "From: bob@client.example\nSubject: RE: x\n\nDone.\n\n-----Original Message-----\nFrom: Help Desk <help@msp.example>\nSent: Tuesday, March 3, 2026 10:00 AM\nSubject: x\n\nold\n";
        assert_eq!(p(outlook_plain).new_text, "Done.");

        // Apple Mail.
        let apple = "From: bob@client.example\nSubject: Re: x\n\nSure, Thursday works.\n\nBob\n\n> On 3 Mar 2026, at 10:00, Help Desk <help@msp.example> wrote:\n>\n> Can we come by Thursday?\n";
        assert_eq!(p(apple).new_text, "Sure, Thursday works.\n\nBob");

        // Thunderbird, German, format=flowed.
        let tb_flowed = "From: max@kunde.example\nSubject: AW: x\nContent-Type: text/plain; charset=UTF-8; format=flowed\n\nDanke, der Drucker im zweiten Stock geht wieder, nur der Scanner \nnoch nicht.\n\n-- \nMax\n\nAm 03.03.26 um 10:00 schrieb Help Desk:\n> Bitte den Drucker neu \n> starten.\n";
        let m = p(tb_flowed);
        assert_eq!(
            m.new_text,
            "Danke, der Drucker im zweiten Stock geht wieder, nur der Scanner noch nicht.\n\n-- \nMax"
        );
        assert!(m.text.ends_with("> Bitte den Drucker neu starten."));

        // Thunderbird, German.
        let tb = "From: max@kunde.example\nSubject: AW: x\nContent-Type: text/plain; charset=UTF-8; format=flowed\n\nDanke, geht wieder.\n\nAm 03.03.26 um 10:00 schrieb Help Desk:\n> Bitte neu starten.\n";
        assert_eq!(p(tb).new_text, "Danke, geht wieder.");
    }

    #[test]
    fn forwards_keep_history() {
        let fwd = "From: bob@client.example\nSubject: Fwd: invoice\n\nPlease check.\n\nFrom: Vendor <v@vendor.example>\nSent: Monday\nSubject: invoice\n\nPay now.\n";
        let m = p(fwd);
        assert!(m.forwarded);
        assert_eq!(m.new_text, "Please check.");
        assert!(m.text.contains("Pay now."));
        let marker = "From: bob@client.example\nSubject: invoice\n\nFYI\n\n---------- Forwarded message ---------\nFrom: Vendor <v@vendor.example>\nDate: Mon, 2 Mar 2026\nSubject: invoice\n\nPay now.\n";
        let m = p(marker);
        assert!(m.forwarded);
        assert!(m.new_text.contains("Pay now."));
        assert!(!p("From: a@b.example\nSubject: RE: FW: x\n\nok\n").forwarded);
    }

    #[test]
    fn sender_stands_in_for_a_missing_from() {
        let m = p("Sender: ERP <Alice@Acme.example>\nSubject: export\n\nstuck\n");
        assert_eq!(
            m.from,
            Some(Address {
                email: "alice@acme.example".into(),
                name: Some("ERP".into())
            })
        );
        // An unusable From falls back to the Sender too.
        let m = p("From: Just A Name\nSender: erp@acme.example\n\nx\n");
        assert_eq!(m.from.map(|f| f.email).as_deref(), Some("erp@acme.example"));
        // A usable From wins.
        let m = p("Sender: secretary@acme.example\nFrom: boss@acme.example\n\nx\n");
        assert_eq!(
            m.from.map(|f| f.email).as_deref(),
            Some("boss@acme.example")
        );
        // Neither: still the From error.
        let err = parse(
            b"Sender: Just A Name\nSubject: x\n\nbody\n",
            &Limits::default(),
        )
        .expect_err("no author");
        assert_eq!(err.reason, "no From address");
    }

    const DSN_HEADERS: &str = r#"Return-Path: <>
From: MAILER-DAEMON@mx.relay.example (Mail Delivery System)
To: help@msp.example
Subject: Undelivered Mail Returned to Sender
Content-Type: multipart/report; report-type=delivery-status;
	boundary="R"

--R
Content-Type: text/plain

Mailbox full.
--R
Content-Type: message/delivery-status

Final-Recipient: rfc822; alice@client.example
Action: failed
--R
Content-Type: text/rfc822-headers

Return-Path: <help@msp.example>
From: Help Desk <help@msp.example>
Subject: [#1-K7Q2XP] Printer
Message-ID: <ack-1@MSP.example>
In-Reply-To: <orig@client.example>
References: <root@client.example>
	<orig@client.example>
--R--
"#;

    #[test]
    fn a_delivery_report_names_the_returned_message() {
        let m = p(&crlf(DSN_HEADERS));
        assert_eq!(m.automated, Some(Automated::DeliveryStatus));
        assert_eq!(
            m.returned_message_ids,
            vec![
                "<ack-1@MSP.example>",
                "<orig@client.example>",
                "<root@client.example>"
            ]
        );
        // The report's own ids are not among them, and the parts stay
        // attachments.
        assert!(m.in_reply_to.is_empty());
        assert_eq!(m.attachments.len(), 2);

        // The whole original as message/rfc822 (the test above has one, too).
        let rfc822 = "From: MAILER-DAEMON@relay.example\nMessage-ID: <dsn@relay.example>\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n--B\nContent-Type: text/plain\n\nUser unknown\n--B\nContent-Type: message/delivery-status\n\nAction: failed\n--B\nContent-Type: message/rfc822\n\nFrom: help@msp.example\nMessage-ID: <ack-2@msp.example>\nSubject: x\n\nHello,\nMessage-ID: <not-a-header@msp.example>\n--B--\n";
        let m = p(rfc822);
        assert_eq!(m.returned_message_ids, vec!["<ack-2@msp.example>"]);
        assert_eq!(m.message_id.as_deref(), Some("<dsn@relay.example>"));

        // qmail returns the original inline, below its explanation.
        let qmail = "From: MAILER-DAEMON@mx.client.example\nSubject: failure notice\n\nSorry, no mailbox here by that name.\n\n--- Below this line is a copy of the message.\n\nFrom: help@msp.example\nMessage-Id: <ack-3@msp.example>\nReferences: <a@client.example>\n <b@client.example>\nSubject: x\n";
        assert_eq!(
            p(qmail).returned_message_ids,
            vec![
                "<ack-3@msp.example>",
                "<a@client.example>",
                "<b@client.example>"
            ]
        );

        // Not a delivery report: nothing, even with such a part.
        let forward = DSN_HEADERS
            .replace("MAILER-DAEMON@", "alice@")
            .replace("Mail Delivery System", "Alice")
            .replace(
                "multipart/report; report-type=delivery-status;",
                "multipart/mixed;",
            )
            .replace("message/delivery-status", "text/plain");
        let m = p(&forward);
        assert_eq!(m.automated, Some(Automated::NullSender));
        assert!(m.returned_message_ids.is_empty());
        assert!(p(ALTERNATIVE).returned_message_ids.is_empty());
    }

    #[test]
    fn unterminated_multipart_text_is_the_body() {
        let raw = "From: a@client.example\nSubject: Truncated\nContent-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain; charset=utf-8\n\nThe badge reader rejects all cards.\n";
        for raw in [raw.to_owned(), crlf(raw)] {
            let m = p(&raw);
            assert_eq!(m.text, "The badge reader rejects all cards.");
            assert_eq!(m.new_text, m.text);
            assert!(m.attachments.is_empty() && m.skipped.is_empty());
        }
        let html = "From: a@client.example\nContent-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/html\n\n<p>Badge&nbsp;reader <b>down</b></p>\n";
        let m = p(html);
        assert_eq!(m.text, "Badge reader down");
        assert!(m.html.as_deref().is_some_and(|h| h.contains("<b>down</b>")));
        assert!(m.attachments.is_empty());
        // A named text file, or one marked as an attachment, stays an
        // attachment.
        for headers in [
            "Content-Type: text/plain; name=\"log.txt\"",
            "Content-Type: text/plain\nContent-Disposition: attachment",
        ] {
            let raw = format!(
                "From: a@client.example\nContent-Type: multipart/mixed; boundary=\"b\"\n\n--b\n{headers}\n\nlog line\n"
            );
            let m = p(&raw);
            assert_eq!(m.text, "", "{headers}");
            assert_eq!(m.attachments.len(), 1, "{headers}");
        }
        // With a body, a text attachment without a name is left alone.
        let m = p(
            "From: a@client.example\nContent-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nbody\n--b\nContent-Type: application/octet-stream\n\nbytes\n--b--\n",
        );
        assert_eq!(m.text, "body");
        assert_eq!(m.attachments.len(), 1);
    }

    #[test]
    fn finnish_vs_is_a_reply_and_forward_blocks_keep_everything() {
        let finnish = "From: aino@client.example\nSubject: VS: [#1-K7Q2XP] Printer\nContent-Type: text/plain; charset=iso-8859-15\nContent-Transfer-Encoding: quoted-printable\n\nHei, tarvitaan v=E4ritulostin.\n\nHelp Desk <help@msp.example> kirjoitti 4.3.2025 klo 11.15:\n> a technician will contact you shortly\n";
        let m = p(finnish);
        assert!(!m.forwarded);
        assert_eq!(m.new_text, "Hei, tarvitaan väritulostin.");
        // A Danish/Norwegian "VS:" forward is still one by its body.
        for marker in [
            "---------- Forwarded message ---------",
            "-------- Weitergeleitete Nachricht --------",
            "Begin forwarded message:",
            "-------- Message transféré --------",
        ] {
            let raw = format!(
                "From: ole@client.example\nSubject: VS: invoice\n\nSee below.\n\n{marker}\nFrom: Vendor <v@vendor.example>\nDate: Mon, 2 Mar 2026\nSubject: invoice\n\nOn Mon, 2 Mar 2026, A <a@x.test> wrote:\n> Pay now.\n"
            );
            let m = p(&raw);
            assert!(m.forwarded, "{marker}");
            assert_eq!(m.new_text, m.text, "{marker}");
            assert!(m.new_text.ends_with("> Pay now."), "{marker}");
        }
        // Unambiguous forward prefixes mark a forward; the new text still
        // stops at a quote (the ingestion keeps all of `text` for a forward
        // that opens a ticket).
        for prefix in ["Fwd", "FW", "WG", "TR", "RV", "ENC", "VL", "Doorst"] {
            let raw = format!(
                "From: a@client.example\nSubject: {prefix}: x\n\nFYI\n\nOn Mon, 2 Mar 2026, A <a@x.test> wrote:\n> old\n"
            );
            let m = p(&raw);
            assert!(m.forwarded, "{prefix}");
            assert_eq!(m.new_text, "FYI", "{prefix}");
            assert!(m.text.ends_with("> old"), "{prefix}");
        }
    }

    #[test]
    fn delivery_status_bounce() {
        let raw = r#"Return-Path: <>
From: Mail Delivery System <MAILER-DAEMON@mx.client.example>
To: help@msp.example
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
Content-Type: multipart/report; report-type=delivery-status; boundary="R"

--R
Content-Type: text/plain

The mail system could not deliver your message.
--R
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.client.example
Final-Recipient: rfc822; gone@client.example
Action: failed
Status: 5.1.1
--R
Content-Type: message/rfc822

From: help@msp.example
Subject: [#1042-K7Q2XP] Printer

original
--R--
"#;
        let m = p(raw);
        assert_eq!(m.automated, Some(Automated::DeliveryStatus));
        assert_eq!(m.text, "The mail system could not deliver your message.");
        assert!(
            m.attachments
                .iter()
                .any(|a| a.content_type == "message/rfc822"
                    && a.filename.ends_with(".eml")
                    && a.bytes.starts_with(b"From: help@msp.example"))
        );
        // Without the MAILER-DAEMON sender the report type alone is enough.
        let other = raw.replace("MAILER-DAEMON@", "bounces@");
        assert_eq!(p(&other).automated, Some(Automated::DeliveryStatus));
    }

    #[test]
    fn automated_headers() {
        let base = "From: x@example.com\nSubject: s\n";
        let cases = [
            (
                "Auto-Submitted: auto-replied\n",
                Some(Automated::AutoReplied),
            ),
            (
                "Auto-Submitted: auto-generated; type=x\n",
                Some(Automated::AutoGenerated),
            ),
            ("Auto-Submitted: no\n", None),
            ("Precedence: bulk\n", Some(Automated::Precedence)),
            ("Precedence: junk\n", Some(Automated::Precedence)),
            ("Precedence: first-class\n", None),
            ("X-Autoreply: yes\n", Some(Automated::AutoReplyHeader)),
            (
                "X-Autorespond: Out of office\n",
                Some(Automated::AutoReplyHeader),
            ),
            ("X-Autogenerated: Reply\n", Some(Automated::AutoReplyHeader)),
            (
                "X-Auto-Response-Suppress: All\n",
                Some(Automated::AutoReplyHeader),
            ),
            ("X-Auto-Response-Suppress: DR, RN, NRN\n", None),
            ("Return-Path: <>\n", Some(Automated::NullSender)),
            ("Return-Path: < >\n", Some(Automated::NullSender)),
            ("Return-Path: <x@example.com>\n", None),
            (
                "List-Id: Users <users.lists.example>\n",
                Some(Automated::ListMail),
            ),
            (
                "List-Unsubscribe: <mailto:u@lists.example>\n",
                Some(Automated::ListMail),
            ),
            (
                "List-Id: <l.example>\nAuto-Submitted: auto-generated\n",
                Some(Automated::ListMail),
            ),
            ("", None),
        ];
        for (extra, expected) in cases {
            let raw = format!("{base}{extra}\nbody\n");
            assert_eq!(p(&raw).automated, expected, "{extra}");
        }
        let m = p("From: Postmaster <postmaster@client.example>\n\nx\n");
        assert_eq!(m.automated, Some(Automated::DeliveryStatus));
        assert_eq!(Automated::NullSender.as_str(), "null_sender");
    }

    #[test]
    fn not_a_message_is_an_error() {
        let limits = Limits::default();
        for raw in [
            &b""[..],
            b"  \r\n\r\n",
            b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR",
            b"hello world\nthis is not mail\n",
            b"\0\0\0\0From: a@b.c\n\nx",
            b"From: a@b.c\0\nSubject: x\n\nx",
            b" continuation first: x\nFrom: a@b.c\n\nx",
        ] {
            let err = parse(raw, &limits).expect_err("must fail");
            assert!(err.reason.starts_with("not an e-mail message"), "{err}");
        }
    }

    #[test]
    fn missing_from_is_an_error() {
        let limits = Limits::default();
        for raw in [
            "Subject: hi\nTo: help@msp.example\n\nbody\n",
            "From: \nSubject: hi\n\nbody\n",
            "From: Just A Name\nSubject: hi\n\nbody\n",
            "From: undisclosed-recipients:;\n\nbody\n",
        ] {
            let err = parse(raw.as_bytes(), &limits).expect_err("must fail");
            assert_eq!(err.reason, "no From address", "{raw}");
        }
        // mbox "From " separator lines are tolerated.
        let m = p("From someone Tue Mar  3 10:00:00 2026\nFrom: a@b.example\n\nx\n");
        assert_eq!(m.from.map(|f| f.email).as_deref(), Some("a@b.example"));
    }

    #[test]
    fn content_hash_ignores_trace_headers() {
        let original = "Message-ID: <m1@client.example>\nFrom: a@client.example\nDate: Tue, 3 Mar 2026 10:00:00 +0000\nSubject: Printer\n\nIt is broken.\n";
        let rerouted = format!(
            "Received: from relay.example by mx.example; Tue, 3 Mar 2026 10:00:05 +0000\nDelivered-To: help@msp.example\nReturn-Path: <a@client.example>\n{original}"
        );
        let h = content_hash(original.as_bytes());
        assert_eq!(h, content_hash(rerouted.as_bytes()));
        assert_eq!(h, content_hash(crlf(original).as_bytes()));
        assert_eq!(h, content_hash(format!("{original}\n\n").as_bytes()));
        assert_eq!(h, p(&rerouted).content_hash);
        let changed = original.replace("broken", "fixed");
        assert_ne!(h, content_hash(changed.as_bytes()));
        let other_subject = original.replace("Printer", "Scanner");
        assert_ne!(h, content_hash(other_subject.as_bytes()));
        // Works on input parse rejects, and is stable.
        let garbage = b"\x89PNG garbage";
        assert_eq!(content_hash(garbage), content_hash(garbage));
        assert_ne!(content_hash(garbage), content_hash(b"other garbage"));
        assert_eq!(content_hash(b"").len(), 64);
    }

    /// Found by fuzzing mail-parser 0.11.9: a message/rfc822 part whose body
    /// is itself a message/rfc822 inside a multipart trips the
    /// `debug_assert!(false, "Invalid part ID, could not find multipart.")`
    /// in `MessageParser::parse_`.
    const PANICS_MAIL_PARSER: &str = "From: a@b.example\nContent-Type: multipart/mixed; boundary=\"B\"\n\n--B\nContent-Type: message/rfc822\n\nSubject: x\nContent-Type: message/rfc822\n\nContent-Type: text/plain\n\nhello\n--B--\n";

    #[test]
    fn parser_panic_is_an_error() {
        let result = parse(PANICS_MAIL_PARSER.as_bytes(), &Limits::default());
        if cfg!(debug_assertions) {
            let err = result.expect_err("mail-parser's debug_assert fires");
            assert!(err.reason.starts_with("parser panicked: "), "{err}");
            assert!(err.reason.contains("Invalid part ID"), "{err}");
        }
        // The hash still works for the quarantine entry.
        assert_eq!(content_hash(PANICS_MAIL_PARSER.as_bytes()).len(), 64);

        let caught: Result<(), ParseError> = catch_parser_panic(|| panic!("boom {}", 42));
        assert_eq!(
            caught.expect_err("caught").reason,
            "parser panicked: boom 42"
        );
        let caught: Result<(), ParseError> = catch_parser_panic(|| std::panic::panic_any(7u8));
        assert_eq!(
            caught.expect_err("caught").reason,
            "parser panicked: unknown panic"
        );
        assert_eq!(catch_parser_panic(|| 5).ok(), Some(5));
    }

    #[test]
    fn rfc2231_names_join_continuations_before_decoding() {
        let v = "attachment; filename*0*=windows-1251''%C0%EA%F2%20; filename*1*=%F1%E2%E5%F0; filename*2=\".xlsx\"";
        assert_eq!(
            rfc2231_param(v, "filename").as_deref(),
            Some("Акт свер.xlsx")
        );
        let utf8 = "attachment; filename*=UTF-8''%E2%82%AC%20rates.txt";
        assert_eq!(
            rfc2231_param(utf8, "filename").as_deref(),
            Some("€ rates.txt")
        );
        // A UTF-8 character split across two continuations.
        let split = "attachment; filename*0*=utf-8''%E2%82; filename*1*=%AC.txt";
        assert_eq!(rfc2231_param(split, "filename").as_deref(), Some("€.txt"));
        let koi = "application/pdf; name*0*=koi8-r'ru'%F3%DE%C5%D4; name*1*=.pdf";
        assert_eq!(rfc2231_param(koi, "name").as_deref(), Some("Счет.pdf"));
        assert_eq!(
            rfc2231_param("attachment; filename=\"plain.txt\"", "filename"),
            None
        );
        // A stray % or non-ASCII byte does not panic.
        assert!(rfc2231_param("attachment; filename*=utf-8''%Zé%", "filename").is_some());
    }

    #[test]
    fn an_automatic_answer_attached_is_a_loop_unless_a_person_forwards_it() {
        let raw = |subject: &str| {
            format!(
                "From: robot@vendor.example\nSubject: {subject}\nContent-Type: multipart/mixed; boundary=B\n\n\
                 --B\nContent-Type: text/plain\n\nReceived.\n--B\nContent-Type: message/rfc822\n\n\
                 From: help@msp.example\nAuto-Submitted: auto-replied\nSubject: [#1-ABCDEF] x\n\nWe got it.\n--B--\n"
            )
        };
        let m = p(&raw("Re: [#1-ABCDEF] x"));
        assert_eq!(m.automated, Some(Automated::Loop));
        assert_eq!(
            m.automated_signal,
            Some("an attached automatic answer (Auto-Submitted)")
        );
        assert_eq!(p(&raw("Fwd: why did I get this?")).automated, None);
    }

    #[test]
    fn quoted_local_parts_are_addresses() {
        assert_eq!(
            clean_email("<\"System Administrator\"@Example.com>").as_deref(),
            Some("\"system administrator\"@example.com")
        );
        assert_eq!(
            clean_email("\"jane\"@example.com").as_deref(),
            Some("jane@example.com")
        );
        assert_eq!(
            clean_email("\"a\\\"b\"@example.com").as_deref(),
            Some("\"a\\\"b\"@example.com")
        );
        for bad in [
            "\"a\"b\"@x.example",
            "\"\"@x.example",
            "a b@x.example",
            "\"a\"@x y.example",
        ] {
            assert_eq!(clean_email(bad), None, "{bad}");
        }
        let m = p("From: \"Sys Admin\" <\"System Administrator\"@oldcorp.example>\n\nx\n");
        assert_eq!(
            m.from.map(|f| f.email).as_deref(),
            Some("\"system administrator\"@oldcorp.example")
        );
    }

    #[test]
    fn filenames_are_sanitized() {
        let f = "attachment-1";
        assert_eq!(sanitize_filename("../../etc/passwd", f), "passwd");
        assert_eq!(sanitize_filename("..\\..\\boot.ini", f), "boot.ini");
        assert_eq!(sanitize_filename("..", f), f);
        assert_eq!(sanitize_filename("", f), f);
        assert_eq!(sanitize_filename("dir/", f), f);
        assert_eq!(sanitize_filename(".hidden", f), "hidden");
        assert_eq!(sanitize_filename("a\u{0}b\nc\u{7f}.txt", f), "abc.txt");
        assert_eq!(
            sanitize_filename("what?<now>:|*.doc", f),
            "what__now____.doc"
        );
        assert_eq!(
            sanitize_filename("  spaced   name .pdf. ", f),
            "spaced name .pdf"
        );
        let long = format!("{}.pdf", "x".repeat(300));
        let s = sanitize_filename(&long, f);
        assert_eq!(s.chars().count(), 200);
        assert!(s.ends_with("xx.pdf"));
    }

    /// The placeholder values of the fixture set (see its README), in the
    /// shapes the API test fills in.
    const FIXTURE_VALUES: &[(&str, &str)] = &[
        (
            "T1_ACK_MSGID",
            "<0194f0c1-7c1e-7b10-9e55-0a1b2c3d4e5f@msp-a.test>",
        ),
        ("T1_TOKEN", "[#1-K7Q2XP]"),
        (
            "T2_ACK_MSGID",
            "<0194f0c2-7c1e-7b10-9e55-0a1b2c3d4e5f@msp-a.test>",
        ),
        ("T2_TOKEN", "[#2-M8R3YW]"),
        ("T3_TOKEN", "[#3-N9S4ZV]"),
        ("OTHER_TENANT_TOKEN", "[#1-B7Q2XP]"),
    ];

    /// `raw` with its `{{NAME}}` placeholders filled from [`FIXTURE_VALUES`].
    fn fill_placeholders(file: &str, raw: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(raw.len() + 64);
        let mut rest = raw;
        while let Some(start) = rest.windows(2).position(|w| w == b"{{") {
            let after = &rest[start + 2..];
            let Some(end) = after.windows(2).position(|w| w == b"}}") else {
                break;
            };
            let name = String::from_utf8_lossy(&after[..end]);
            let value = FIXTURE_VALUES
                .iter()
                .find(|(n, _)| *n == name)
                .unwrap_or_else(|| panic!("{file}: unknown placeholder {name}"))
                .1;
            out.extend_from_slice(&rest[..start]);
            out.extend_from_slice(value.as_bytes());
            rest = &after[end + 2..];
        }
        out.extend_from_slice(rest);
        out
    }

    /// What Dovecot hands back on FETCH: bare LF as CRLF, NUL as 0x80.
    fn as_fetched(raw: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(raw.len() + raw.len() / 20);
        let mut prev = 0u8;
        for &b in raw {
            match b {
                b'\n' if prev != b'\r' => out.extend_from_slice(b"\r\n"),
                0 => out.push(0x80),
                _ => out.push(b),
            }
            prev = b;
        }
        out
    }

    /// Every fixture of `tests/fixtures/mail` parses as its manifest entry
    /// says, as stored and as Dovecot returns it: quarantined for a parse
    /// or From reason exactly when parsing fails, and otherwise the
    /// phrases of `text_contains` in the new text (or the text when that
    /// is empty, as the ingestion stores it), those of `text_excludes` not
    /// in it, `subject_contains` in the subject, `attachments` stored
    /// attachments, and a delivery report naming our acknowledgement.
    #[test]
    fn mail_fixtures_parse_as_the_manifest_says() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/mail");
        let manifest: serde_json::Value = serde_json::from_slice(
            &std::fs::read(dir.join("manifest.json")).expect("manifest.json"),
        )
        .expect("manifest.json is JSON");
        let entries = manifest["messages"].as_array().expect("messages");
        assert!(entries.len() >= 60, "{} fixtures", entries.len());
        let ack_ids: Vec<&str> = FIXTURE_VALUES
            .iter()
            .filter(|(n, _)| n.ends_with("_MSGID"))
            .map(|(_, v)| *v)
            .collect();
        let strings = |e: &serde_json::Value, key: &str| -> Vec<String> {
            e[key]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        };
        let mut failures = Vec::new();
        for e in entries {
            let file = e["file"].as_str().expect("file");
            let stored =
                std::fs::read(dir.join(file)).unwrap_or_else(|err| panic!("{file}: {err}"));
            let stored = fill_placeholders(file, &stored);
            for (how, raw) in [("stored", stored.clone()), ("fetched", as_fetched(&stored))] {
                let name = format!("{file} ({how})");
                let parsed = parse(&raw, &Limits::default());
                let unparseable = e["expect"] == "quarantine"
                    && matches!(e["reason_contains"].as_str(), Some("parse" | "from"));
                let m = match parsed {
                    Err(err) if unparseable => {
                        let want = e["reason_contains"].as_str().unwrap_or_default();
                        let ok = match want {
                            "from" => err.reason == "no From address",
                            _ => err.reason.starts_with("not an e-mail message"),
                        };
                        if !ok {
                            failures.push(format!("{name}: wrong error {:?}", err.reason));
                        }
                        continue;
                    }
                    Err(err) => {
                        failures.push(format!("{name}: cannot be parsed: {}", err.reason));
                        continue;
                    }
                    Ok(_) if unparseable => {
                        failures.push(format!("{name}: parsed, expected an error"));
                        continue;
                    }
                    Ok(m) => m,
                };
                if e["expect"] == "quarantine" {
                    if e["reason_contains"] == "bounce"
                        && !m.automated.is_some_and(Automated::is_bounce)
                    {
                        failures.push(format!("{name}: not a bounce: {:?}", m.automated));
                    }
                    continue;
                }
                // What the robot classifier says of each fixture.
                if e["expect"] == "ignored" {
                    let got = m.automated.map(Automated::as_str);
                    if got != e["reason_contains"].as_str()
                        || !m.automated.is_some_and(Automated::is_ignorable)
                    {
                        failures.push(format!(
                            "{name}: automated {got:?}, expected {}",
                            e["reason_contains"]
                        ));
                    }
                } else if e["acknowledged"] == true && m.automated.is_some() {
                    failures.push(format!(
                        "{name}: a person's mail taken for a robot: {:?} ({:?})",
                        m.automated, m.automated_signal
                    ));
                }
                if let Some(names) = e["attachment_names"].as_array() {
                    let got: Vec<&str> =
                        m.attachments.iter().map(|a| a.filename.as_str()).collect();
                    let want: Vec<&str> = names.iter().filter_map(|n| n.as_str()).collect();
                    if got != want {
                        failures.push(format!("{name}: attachments {got:?}, expected {want:?}"));
                    }
                }
                if let Some(want) = e["ack_subject_contains"].as_str()
                    && !(m.subject_decoded && m.subject.contains(want))
                {
                    failures.push(format!("{name}: subject {:?} not decoded", m.subject));
                }
                if let Some(want) = e["ack_to"].as_str() {
                    let to = m
                        .return_path
                        .as_ref()
                        .or(m.from.as_ref())
                        .map(|a| a.email.as_str());
                    if to != Some(want) {
                        failures.push(format!("{name}: acknowledged at {to:?}, expected {want}"));
                    }
                }
                let body = if m.new_text.trim().is_empty() {
                    &m.text
                } else {
                    &m.new_text
                };
                for s in strings(e, "text_contains") {
                    if !body.contains(&s) {
                        failures.push(format!("{name}: text lacks {s:?}: {body:?}"));
                    }
                }
                for s in strings(e, "text_excludes") {
                    if m.new_text.contains(&s) {
                        failures.push(format!("{name}: new text keeps the quote {s:?}"));
                    }
                }
                if let Some(s) = e["subject_contains"].as_str()
                    && !m.subject.contains(s)
                {
                    failures.push(format!("{name}: subject {:?} lacks {s:?}", m.subject));
                }
                if let Some(n) = e["attachments"].as_u64()
                    && m.attachments.len() as u64 != n
                {
                    failures.push(format!(
                        "{name}: {} attachments, expected {n}",
                        m.attachments.len()
                    ));
                }
                if m.automated == Some(Automated::DeliveryStatus)
                    && e["expect"] == "reply"
                    && !m
                        .returned_message_ids
                        .iter()
                        .any(|id| ack_ids.contains(&id.as_str()))
                {
                    failures.push(format!(
                        "{name}: the report names none of our messages: {:?}",
                        m.returned_message_ids
                    ));
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
