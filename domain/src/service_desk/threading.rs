//! E-mail threading helpers: subject normalisation, ticket tokens and
//! Message-ID normalisation. Everything here is pure.
//!
//! # Subjects
//!
//! [`normalize_subject`] strips the reply/forward prefixes mail clients put
//! in front of a subject, repeatedly and case-insensitively:
//! `Re`, `Fwd`, `Fw`, `AW`, `WG`, `VS`, `SV`, `Antw`, `R`, `RIF`, `TR`, plus
//! `RV`, `ENC`, `VL`, `ODP` and `Doorst` (Spanish, Portuguese, Finnish,
//! Polish and Dutch clients). A prefix is a whole ASCII word from that
//! list, optionally followed by a counter in brackets or parentheses
//! (`Re[2]`, `Re(3)`), then optional spaces and a colon (`:` or the
//! full-width `：`). Only prefixes at the very start are stripped:
//! `[EXTERNAL] Re: x` is left alone, and a word that merely starts with a
//! prefix (`Router: down`) is never touched. Whitespace is collapsed and
//! the result trimmed.
//!
//! [`is_forward_subject`] tells a forward from a reply by the first prefix.
//! Only the unambiguous forward prefixes count: `Fwd`, `Fw` (English),
//! `WG` (German *Weitergeleitet*), `TR` (French *transféré*), `RV` (Spanish
//! *reenviado*), `ENC` (Portuguese *encaminhado*), `VL` (Finnish
//! *välitetty*) and `Doorst` (Dutch *doorgestuurd*). `VS` is not one: it is
//! the Danish/Norwegian forward (*videresendt*) but the Finnish reply
//! (*vastaus*), and treating a reply as a forward keeps its whole quoted
//! history. `SV` (*svar*) is a reply everywhere. The Swedish forward `VB`
//! (*vidarebefordrat*) is not a prefix at all: "VB: macro fails" is far
//! more likely Visual Basic in a helpdesk's mail, and stripping it would
//! damage the subject. A forward with an ambiguous or unknown prefix is
//! still recognised by its forwarded-message block in the body.
//!
//! # Ticket tokens
//!
//! A ticket token is `[#<number>-<code>]`, e.g. `[#1042-K7Q2XP]`: the
//! ticket number (decimal, fits an `i64`) and a 6-character code over
//! `A-Z` and `2-9`. Parsing is case-insensitive and tolerates whitespace
//! inside the brackets (`[# 1042-K7Q2XP ]`); codes are returned uppercase.
//! Freshly generated codes ([`new_token_code`]) avoid the look-alike
//! characters `0`, `O`, `1` and `I` (the digits are outside the alphabet
//! anyway).
//!
//! # Message-IDs
//!
//! [`normalize_message_id`] turns a Message-ID-like string into the
//! canonical `<local@domain>` form, or `None` if it is not one.

use rand::Rng;

/// Reply and forward prefixes, lowercase.
const PREFIXES: &[&str] = &[
    "re", "fwd", "fw", "aw", "wg", "vs", "sv", "antw", "r", "rif", "tr", "rv", "enc", "vl", "odp",
    "doorst",
];

/// The unambiguous forward prefixes, lowercase (a subset of [`PREFIXES`]);
/// see the module docs for why `VS` is not one.
const FORWARD_PREFIXES: &[&str] = &["fwd", "fw", "wg", "tr", "rv", "enc", "vl", "doorst"];

/// The alphabet of generated token codes: A-Z and 2-9 without O and I.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// The length of a token code.
pub const TOKEN_CODE_LEN: usize = 6;

/// If `s` starts with a reply/forward prefix (after leading whitespace),
/// returns the lowercase prefix word and the rest after its colon.
fn strip_one_prefix(s: &str) -> Option<(String, &str)> {
    let s = s.trim_start();
    let word_len = s.bytes().take_while(|b| b.is_ascii_alphabetic()).count();
    if word_len == 0 {
        return None;
    }
    let word = s[..word_len].to_ascii_lowercase();
    if !PREFIXES.contains(&word.as_str()) {
        return None;
    }
    let mut rest = &s[word_len..];
    // Optional counter: "[2]" or "(3)", possibly after spaces.
    let trimmed = rest.trim_start();
    if let Some(open) = trimmed.chars().next()
        && (open == '[' || open == '(')
    {
        let close = if open == '[' { ']' } else { ')' };
        let inner = &trimmed[1..];
        let digits = inner.bytes().take_while(|b| b.is_ascii_digit()).count();
        if digits > 0 && inner[digits..].starts_with(close) {
            rest = &inner[digits + 1..];
        }
    }
    let rest = rest.trim_start_matches([' ', '\t']);
    rest.strip_prefix(':')
        .or_else(|| rest.strip_prefix('：'))
        .map(|after| (word, after))
}

/// Strips reply/forward prefixes (see the module docs), collapses
/// whitespace and trims.
pub fn normalize_subject(s: &str) -> String {
    let mut rest = s;
    while let Some((_, after)) = strip_one_prefix(rest) {
        rest = after;
    }
    collapse_whitespace(rest)
}

/// Whether the subject's first prefix is a forward prefix (`Fwd:`, `FW:`,
/// `WG:`, `TR:`, ...). `RE: FW: x` is a reply, not a forward.
pub fn is_forward_subject(s: &str) -> bool {
    strip_one_prefix(s).is_some_and(|(word, _)| FORWARD_PREFIXES.contains(&word.as_str()))
}

/// Collapses runs of whitespace into one space and trims.
pub fn collapse_whitespace(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// A ticket token found in (or to be put into) a subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketToken {
    pub number: i64,
    /// Six characters from A-Z and 2-9, uppercase.
    pub code: String,
}

impl TicketToken {
    /// The token as it appears in subjects: `[#1042-K7Q2XP]`.
    pub fn render(&self) -> String {
        format!("[#{}-{}]", self.number, self.code)
    }
}

/// Tries to read a token starting at `s[0] == '['`; returns the token.
fn parse_token_at(s: &str) -> Option<TicketToken> {
    let s = s.strip_prefix('[')?.trim_start();
    let s = s.strip_prefix('#')?.trim_start();
    let digits = s.bytes().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 19 {
        return None;
    }
    let number: i64 = s[..digits].parse().ok()?;
    let s = s[digits..].trim_start();
    let s = s.strip_prefix('-')?.trim_start();
    let code_bytes = s.as_bytes().get(..TOKEN_CODE_LEN)?;
    if !code_bytes
        .iter()
        .all(|b| b.is_ascii_alphabetic() || (b'2'..=b'9').contains(b))
    {
        return None;
    }
    let code = s[..TOKEN_CODE_LEN].to_ascii_uppercase();
    let s = s[TOKEN_CODE_LEN..].trim_start();
    s.starts_with(']').then_some(TicketToken { number, code })
}

/// All ticket tokens in `subject`, in order of appearance, deduplicated.
pub fn ticket_tokens(subject: &str) -> Vec<TicketToken> {
    let mut out: Vec<TicketToken> = Vec::new();
    for (i, _) in subject.match_indices('[') {
        if let Some(token) = parse_token_at(&subject[i..])
            && !out.contains(&token)
        {
            out.push(token);
        }
    }
    out
}

/// A fresh random token code: 6 characters from A-Z and 2-9 without the
/// ambiguous `O` and `I`.
pub fn new_token_code() -> String {
    let mut rng = rand::rng();
    (0..TOKEN_CODE_LEN)
        .map(|_| char::from(CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())]))
        .collect()
}

/// Normalises a Message-ID-like string to `<local@domain>`: trims, strips
/// and re-adds angle brackets. `None` when empty or not an id: no `@`, an
/// empty local part or domain, or whitespace, control characters or angle
/// brackets inside.
pub fn normalize_message_id(s: &str) -> Option<String> {
    let s = s.trim();
    let s = s.strip_prefix('<').unwrap_or(s);
    let s = s.strip_suffix('>').unwrap_or(s).trim();
    if s.is_empty()
        || s.chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
    {
        return None;
    }
    let (local, domain) = s.rsplit_once('@')?;
    if local.is_empty() || domain.is_empty() {
        return None;
    }
    Some(format!("<{s}>"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_subject_table() {
        let cases: &[(&str, &str)] = &[
            ("Re: Printer", "Printer"),
            ("RE: Printer", "Printer"),
            ("re: Printer", "Printer"),
            ("Fwd: Printer", "Printer"),
            ("FWD: Printer", "Printer"),
            ("Fw: Printer", "Printer"),
            ("FW: Printer", "Printer"),
            ("AW: Printer", "Printer"),
            ("WG: Printer", "Printer"),
            ("VS: Printer", "Printer"),
            ("SV: Printer", "Printer"),
            ("Antw: Printer", "Printer"),
            ("ANTW: Printer", "Printer"),
            ("R: Printer", "Printer"),
            ("RIF: Printer", "Printer"),
            ("TR: Printer", "Printer"),
            ("TR : Printer", "Printer"),
            ("RV: Printer", "Printer"),
            ("Re[2]: Printer", "Printer"),
            ("Re(3): Printer", "Printer"),
            ("RE [4]: Printer", "Printer"),
            ("RE: FW: AW: Printer", "Printer"),
            ("Re:Re:Re:Printer", "Printer"),
            ("Re：Printer", "Printer"),
            ("回复： Re： Printer", "回复： Re： Printer"),
            ("AW: WG: Re: [#12-ABCDEF] Printer", "[#12-ABCDEF] Printer"),
            ("[EXTERNAL] Re: Printer", "[EXTERNAL] Re: Printer"),
            ("Re: [EXTERNAL] Re: Printer", "[EXTERNAL] Re: Printer"),
            ("Router: down", "Router: down"),
            ("R2: down", "R2: down"),
            ("Rif: down", "down"),
            ("Remote: access", "Remote: access"),
            ("Re printer", "Re printer"),
            ("Re[x]: printer", "Re[x]: printer"),
            ("  Re:   lots   of\t space  ", "lots of space"),
            ("Re:", ""),
            ("", ""),
            ("Printer", "Printer"),
        ];
        for (input, expected) in cases {
            assert_eq!(normalize_subject(input), *expected, "input {input:?}");
        }
    }

    #[test]
    fn forward_subjects() {
        assert!(is_forward_subject("Fwd: x"));
        assert!(is_forward_subject("FW: x"));
        assert!(is_forward_subject("WG: x"));
        assert!(is_forward_subject("TR : x"));
        assert!(!is_forward_subject("RE: FW: x"));
        assert!(!is_forward_subject("Forward planning"));
        assert!(!is_forward_subject("x"));
    }

    #[test]
    fn only_unambiguous_prefixes_are_forwards() {
        for s in [
            "Fwd: x",
            "FW: x",
            "WG: x",
            "TR: x",
            "RV: x",
            "ENC: x",
            "VL: x",
            "Doorst: x",
        ] {
            assert!(is_forward_subject(s), "{s}");
        }
        // VS: Finnish reply (vastaus) as much as Danish/Norwegian forward.
        // SV: reply (svar). VB: not a prefix (Visual Basic).
        for s in [
            "VS: [#1-ABCDEF] Printer",
            "SV: x",
            "AW: x",
            "Antw: x",
            "R: x",
            "RIF: x",
            "VB: x",
            "Re: Fwd: x",
            "VS: FW: x",
        ] {
            assert!(!is_forward_subject(s), "{s}");
        }
        assert_eq!(normalize_subject("Doorst: AW: Printer"), "Printer");
        assert_eq!(normalize_subject("VB: macro fails"), "VB: macro fails");
        assert_eq!(
            normalize_subject("Doorstep: delivery"),
            "Doorstep: delivery"
        );
    }

    #[test]
    fn tokens() {
        let t = ticket_tokens("Re: [#1042-K7Q2XP] Printer");
        assert_eq!(
            t,
            vec![TicketToken {
                number: 1042,
                code: "K7Q2XP".into()
            }]
        );
        assert_eq!(t[0].render(), "[#1042-K7Q2XP]");

        // lowercase accepted, returned uppercase
        let t = ticket_tokens("[#7-abcdef]");
        assert_eq!(t[0].code, "ABCDEF");
        assert_eq!(t[0].number, 7);

        // whitespace inside brackets
        let t = ticket_tokens("x [# 1042-K7Q2XP ] y [ #1043 - K7Q2XQ]");
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].number, 1042);
        assert_eq!(t[1].render(), "[#1043-K7Q2XQ]");

        // bad code characters (0 and 1 are not in the alphabet), wrong lengths
        assert!(ticket_tokens("[#12-ABCDE0]").is_empty());
        assert!(ticket_tokens("[#12-ABCDE1]").is_empty());
        assert!(ticket_tokens("[#12-ABCDE]").is_empty());
        assert!(ticket_tokens("[#12-ABCDEFG]").is_empty());
        assert!(ticket_tokens("[#12-ABC_EF]").is_empty());
        assert!(ticket_tokens("[#-ABCDEF]").is_empty());
        assert!(ticket_tokens("[12-ABCDEF]").is_empty());
        assert!(ticket_tokens("[#12ABCDEF]").is_empty());
        assert!(ticket_tokens("[#99999999999999999999-ABCDEF]").is_empty());
        assert!(ticket_tokens("[#12-ÄBCDEF]").is_empty());
        assert!(ticket_tokens("[#").is_empty());

        // two tokens in order, duplicates dropped
        let t = ticket_tokens("[#2-BBBBBB] Re: [#1-AAAAAA] [#2-bbbbbb]");
        assert_eq!(
            t.iter().map(TicketToken::render).collect::<Vec<_>>(),
            vec!["[#2-BBBBBB]", "[#1-AAAAAA]"]
        );
        // max i64
        let t = ticket_tokens("[#9223372036854775807-ZZZZZZ]");
        assert_eq!(t[0].number, i64::MAX);
    }

    #[test]
    fn token_codes() {
        for _ in 0..200 {
            let code = new_token_code();
            assert_eq!(code.len(), TOKEN_CODE_LEN);
            assert!(code.bytes().all(|b| CODE_ALPHABET.contains(&b)), "{code}");
            assert!(!code.contains(['0', 'O', '1', 'I']));
            let token = TicketToken {
                number: 5,
                code: code.clone(),
            };
            assert_eq!(ticket_tokens(&token.render()), vec![token]);
        }
    }

    #[test]
    fn message_ids() {
        assert_eq!(
            normalize_message_id("<abc@example.com>").as_deref(),
            Some("<abc@example.com>")
        );
        assert_eq!(
            normalize_message_id("  abc@example.com ").as_deref(),
            Some("<abc@example.com>")
        );
        assert_eq!(
            normalize_message_id("<abc@example.com").as_deref(),
            Some("<abc@example.com>")
        );
        assert_eq!(
            normalize_message_id("< a.b+c@x.y >").as_deref(),
            Some("<a.b+c@x.y>")
        );
        assert_eq!(normalize_message_id(""), None);
        assert_eq!(normalize_message_id("<>"), None);
        assert_eq!(normalize_message_id("   "), None);
        assert_eq!(normalize_message_id("no-at-sign"), None);
        assert_eq!(normalize_message_id("a b@c"), None);
        assert_eq!(normalize_message_id("<a@b> <c@d>"), None);
        assert_eq!(normalize_message_id("@b"), None);
        assert_eq!(normalize_message_id("a@"), None);
    }
}
