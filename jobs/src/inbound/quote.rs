//! Separating what a sender wrote from the quoted history below it.
//!
//! [`quote_start`] finds where the quoted history begins: the first line
//! (outside `>` quotes) that is one of
//!
//! - an attribution line, possibly wrapped over up to three lines as Gmail
//!   does (`On Tue, 3 Mar 2026 at 10:00, Name <` / `a@b> wrote:`): English
//!   `On ... wrote:`, German `Am ... schrieb ...:`, French
//!   `Le ... a écrit :`, Dutch `Op ... schreef ...:`, Spanish
//!   `El ... escribió:`, Italian `Il ... ha scritto:`, Portuguese
//!   `Em ... escreveu:`, Swedish/Norwegian/Danish `Den ... skrev ...:` and
//!   `... skrev ...:`, Polish `W dniu ... napisał ...:`, Finnish
//!   `... kirjoitti ...:`, or any `... <a@b> wrote:` style line. An
//!   attribution must contain a digit (a date) or an `@`, so prose such as
//!   "On Tuesday the server wrote:" is not mistaken for one;
//! - an Outlook separator: `-----Original Message-----`,
//!   `-----Ursprüngliche Nachricht-----` and their translations;
//! - a line of underscores followed by a `From:`/`Von:`/`De:`/... line;
//! - an Outlook header block without separator: a `From:` line followed
//!   within three lines by `Sent:`/`Date:`/`Gesendet:`/... and within six
//!   by `Subject:`/`Betreff:`/`Objet :`/...;
//! - the start of a run of `>` lines (blank lines allowed) that lasts to the
//!   end of the text. Inline replies between quoted lines are kept.
//!
//! Forwards keep everything: [`strip_quoted`] cuts nothing when a forward
//! marker (`---------- Forwarded message ---------`,
//! `-------- Weitergeleitete Nachricht --------`,
//! `-------- Message transféré --------`, `Begin forwarded message:`, ...)
//! comes before the quote start, whatever the subject says (a Danish or
//! Norwegian `VS:` forward is recognised only so, as `VS:` is also the
//! Finnish reply prefix). A marker inside the quote (`> ----------
//! Forwarded message`) is not one. A signature (`-- `) is kept: only quotes
//! are cut.

/// Labels starting the sender line of a quoted header block.
const FROM_LABELS: &[&str] = &[
    "from:",
    "von:",
    "de:",
    "de :",
    "van:",
    "da:",
    "från:",
    "fra:",
    "od:",
    "lähettäjä:",
    "remitente:",
];

/// Labels of the date line of a quoted header block.
const SENT_LABELS: &[&str] = &[
    "sent:",
    "date:",
    "gesendet:",
    "datum:",
    "envoyé :",
    "envoyé:",
    "date :",
    "verzonden:",
    "enviado el:",
    "enviado:",
    "fecha:",
    "inviato:",
    "data:",
    "skickat:",
    "sendt:",
    "lähetetty:",
    "wysłano:",
    "odesláno:",
];

/// Labels of the subject line of a quoted header block.
const SUBJECT_LABELS: &[&str] = &[
    "subject:",
    "betreff:",
    "objet :",
    "objet:",
    "onderwerp:",
    "asunto:",
    "oggetto:",
    "ämne:",
    "emne:",
    "aihe:",
    "temat:",
    "předmět:",
    "assunto:",
];

/// Outlook "original message" separators (between dashes).
const ORIGINAL_MESSAGE: &[&str] = &[
    "original message",
    "ursprüngliche nachricht",
    "message d'origine",
    "oorspronkelijk bericht",
    "mensaje original",
    "messaggio originale",
    "originalmeddelande",
    "opprinnelig melding",
    "oprindelig meddelelse",
    "mensagem original",
    "alkuperäinen viesti",
    "wiadomość oryginalna",
    "původní zpráva",
];

/// Forward separators (between dashes).
const FORWARDED_DASHED: &[&str] = &[
    "forwarded message",
    "weitergeleitete nachricht",
    "message transféré",
    "doorgestuurd bericht",
    "mensaje reenviado",
    "messaggio inoltrato",
    "vidarebefordrat meddelande",
    "videresendt melding",
    "videresendt meddelelse",
    "mensagem encaminhada",
    "välitetty viesti",
    "wiadomość przekazana dalej",
];

/// Forward introductions (Apple Mail and others), line prefixes.
const FORWARDED_INTRO: &[&str] = &[
    "begin forwarded message:",
    "anfang der weitergeleiteten nachricht:",
    "début du message réexpédié",
    "begin doorgestuurd bericht:",
    "inicio del mensaje reenviado:",
    "inizio messaggio inoltrato:",
];

/// Openers of attribution lines, lowercase with their trailing space.
const OPENERS: &[&str] = &[
    "on ", "am ", "le ", "op ", "el ", "il ", "em ", "den ", "w dniu ",
];

/// `text` without its quoted history: cut at [`quote_start`] unless a forward
/// marker comes first, trailing whitespace removed. Falls back to the whole
/// text when the cut would leave nothing.
pub fn strip_quoted(text: &str) -> String {
    let full = text.trim_end();
    let Some(cut) = quote_start(full) else {
        return full.to_owned();
    };
    if forward_marker(full).is_some_and(|fwd| fwd <= cut) {
        return full.to_owned();
    }
    let kept = full[..cut].trim_end();
    if kept.trim().is_empty() {
        full.to_owned()
    } else {
        kept.to_owned()
    }
}

/// Lines of `text` with their byte offsets.
fn lines_with_offsets(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut offset = 0;
    for line in text.split('\n') {
        out.push((offset, line.strip_suffix('\r').unwrap_or(line)));
        offset += line.len() + 1;
    }
    out
}

/// Lowercases and replaces non-breaking spaces, for matching.
fn fold(line: &str) -> String {
    line.trim()
        .replace(['\u{a0}', '\u{202f}', '\u{2007}'], " ")
        .to_lowercase()
}

fn is_quoted(line: &str) -> bool {
    line.trim_start().starts_with('>')
}

/// Byte offset where the quoted history starts, if any.
pub fn quote_start(text: &str) -> Option<usize> {
    let lines = lines_with_offsets(text);
    let mut first: Option<usize> = None;
    for (i, (offset, line)) in lines.iter().enumerate() {
        if is_quoted(line) || line.trim().is_empty() {
            continue;
        }
        if is_attribution_at(&lines, i)
            || is_original_separator(line)
            || is_underscore_separator(&lines, i)
            || is_header_block(&lines, i)
        {
            first = Some(*offset);
            break;
        }
    }
    let trailing = trailing_quote_run(&lines);
    match (first, trailing) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Byte offset of the first forward marker line, if any.
pub fn forward_marker(text: &str) -> Option<usize> {
    lines_with_offsets(text)
        .into_iter()
        .find(|(_, line)| is_forward_marker(line))
        .map(|(offset, _)| offset)
}

fn is_forward_marker(line: &str) -> bool {
    let folded = fold(line);
    if FORWARDED_INTRO.iter().any(|p| folded.starts_with(p)) {
        return true;
    }
    dashed_label(&folded).is_some_and(|label| FORWARDED_DASHED.contains(&label))
}

/// For `----- Label -----` lines, the label (at least two dashes each side).
fn dashed_label(folded: &str) -> Option<&str> {
    let lead = folded.len() - folded.trim_start_matches('-').len();
    let trail = folded.len() - folded.trim_end_matches('-').len();
    if lead < 2 || trail < 2 || lead + trail >= folded.len() {
        return None;
    }
    Some(folded[lead..folded.len() - trail].trim())
}

fn is_original_separator(line: &str) -> bool {
    dashed_label(&fold(line)).is_some_and(|label| ORIGINAL_MESSAGE.contains(&label))
}

fn starts_with_label(line: &str, labels: &[&str]) -> bool {
    let folded = fold(line);
    // Markdown-ish bold from some converters: "*From:* ..."
    let folded = folded.trim_start_matches('*').replace(":*", ":");
    labels.iter().any(|label| folded.starts_with(label))
}

fn is_underscore_separator(lines: &[(usize, &str)], i: usize) -> bool {
    let line = lines[i].1.trim();
    if line.len() < 10 || !line.bytes().all(|b| b == b'_') {
        return false;
    }
    lines[i + 1..]
        .iter()
        .map(|(_, l)| *l)
        .filter(|l| !l.trim().is_empty())
        .take(1)
        .any(|l| starts_with_label(l, FROM_LABELS))
}

fn is_header_block(lines: &[(usize, &str)], i: usize) -> bool {
    if !starts_with_label(lines[i].1, FROM_LABELS) {
        return false;
    }
    let next: Vec<&str> = lines[i + 1..]
        .iter()
        .map(|(_, l)| *l)
        .filter(|l| !l.trim().is_empty())
        .take(6)
        .collect();
    next.iter()
        .take(3)
        .any(|l| starts_with_label(l, SENT_LABELS))
        && next.iter().any(|l| starts_with_label(l, SUBJECT_LABELS))
}

fn is_attribution_at(lines: &[(usize, &str)], i: usize) -> bool {
    let first = fold(lines[i].1);
    if is_attribution(&first) {
        return true;
    }
    if !OPENERS.iter().any(|o| first.starts_with(o)) {
        return false;
    }
    // Gmail wraps long attributions; join up to two following lines.
    let mut joined = first;
    for (_, line) in lines.iter().skip(i + 1).take(2) {
        if line.trim().is_empty() || is_quoted(line) {
            return false;
        }
        joined.push(' ');
        joined.push_str(&fold(line));
        if is_attribution(&joined) {
            return true;
        }
    }
    false
}

/// Whether a folded (lowercase, trimmed) line is an attribution.
fn is_attribution(l: &str) -> bool {
    if l.len() > 500 || !l.ends_with(':') {
        return false;
    }
    let has_digit = l.bytes().any(|b| b.is_ascii_digit());
    let has_at = l.contains('@');
    if !has_digit && !has_at {
        return false;
    }
    let body = l.trim_end_matches(':').trim_end();
    let ends_any = |words: &[&str]| words.iter().any(|w| body.ends_with(w));
    (l.starts_with("on ") && body.ends_with("wrote"))
        || (l.starts_with("am ") && l.contains(" schrieb"))
        || (l.starts_with("le ") && body.ends_with("a écrit"))
        || (l.starts_with("op ") && l.contains(" schreef"))
        || (l.starts_with("el ") && body.ends_with("escribió"))
        || (l.starts_with("il ") && body.ends_with("ha scritto"))
        || (l.starts_with("em ") && body.ends_with("escreveu"))
        || (l.contains(" skrev ") || body.ends_with(" skrev"))
        || (l.starts_with("w dniu ") && l.contains("napisał"))
        || l.contains(" kirjoitti")
        || (has_at
            && ends_any(&[
                "wrote",
                "schrieb",
                "a écrit",
                "schreef",
                "escribió",
                "ha scritto",
                "escreveu",
                "napisał",
            ]))
}

/// Start of a block of `>` lines (and blank lines) lasting to the end.
fn trailing_quote_run(lines: &[(usize, &str)]) -> Option<usize> {
    let mut start = None;
    for (offset, line) in lines.iter().rev() {
        if line.trim().is_empty() {
            continue;
        }
        if is_quoted(line) {
            start = Some(*offset);
        } else {
            break;
        }
    }
    start
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(text: &str) -> String {
        strip_quoted(text)
    }

    #[test]
    fn gmail_english_wrapped_attribution() {
        let text = "Thanks, that fixed it.\n\nOn Tue, 3 Mar 2026 at 10:00, Help Desk <\nhelp@msp.example> wrote:\n\n> Please restart the printer.\n>\n";
        assert_eq!(cut(text), "Thanks, that fixed it.");
        let one_line = "Yes.\n\nOn Tue, Mar 3, 2026 at 10:00 AM Bob <bob@x.test> wrote:\n> q\n";
        assert_eq!(cut(one_line), "Yes.");
    }

    #[test]
    fn other_languages() {
        let cases = [
            "Danke!\n\nAm 03.03.2026 um 10:00 schrieb Max Mustermann <max@example.de>:\n> alt",
            "Merci\n\nLe mar. 3 mars 2026 à 10:00, Jean <jean@example.fr> a\u{a0}écrit\u{a0}:\n> ancien",
            "Bedankt\n\nOp di 3 mrt 2026 om 10:00 schreef Jan <jan@example.nl>:\n> oud",
            "Gracias\n\nEl mar, 3 mar 2026 a las 10:00, Ana (<ana@example.es>) escribió:\n> viejo",
            "Grazie\n\nIl giorno mar 3 mar 2026 alle ore 10:00 Luca <luca@example.it> ha scritto:\n> vecchio",
            "Tack\n\nDen tis 3 mars 2026 kl 10:00 skrev Sven <sven@example.se>:\n> gammal",
            "Takk\n\ntir. 3. mar. 2026 kl. 10:00 skrev Ola Nordmann <ola@example.no>:\n> gammel",
            "Obrigado\n\nEm ter., 3 de mar. de 2026 às 10:00, João <joao@example.pt> escreveu:\n> velho",
            "Thanks\n\nBob Smith <bob@example.com> wrote:\n> old",
            "Thanks\n\nOn 3/3/26 10:00, Bob wrote:\n> old",
        ];
        for text in cases {
            let kept = cut(text);
            assert!(
                !kept.contains('\n') && kept.len() < 10,
                "{text:?} -> {kept:?}"
            );
        }
    }

    #[test]
    fn outlook_styles() {
        let sep = "Done.\r\n\r\n-----Original Message-----\r\nFrom: A\r\nSent: x\r\n\r\nold\r\n";
        assert_eq!(cut(sep), "Done.");
        let de = "Erledigt.\n\n-----Ursprüngliche Nachricht-----\nVon: A\nGesendet: x\n";
        assert_eq!(cut(de), "Erledigt.");
        let under = "Reply here\n\n________________________________\nFrom: Help <h@x.test>\nSent: Tuesday\nTo: me\nSubject: RE: x\n\nold";
        assert_eq!(cut(under), "Reply here");
        let under_fr =
            "Ok\n________________________________\nDe : Help <h@x.test>\nEnvoyé : mardi\n";
        assert_eq!(cut(under_fr), "Ok");
        let block = "See attached.\n\nFrom: Help Desk <help@msp.example>\nSent: Tuesday, March 3, 2026 10:00 AM\nTo: Bob\nSubject: RE: printer\n\nold text";
        assert_eq!(cut(block), "See attached.");
        let bold = "See attached.\n\n*From:* Help Desk\n*Sent:* Tuesday\n*Subject:* x\n";
        assert_eq!(cut(bold), "See attached.");
    }

    #[test]
    fn trailing_quote_run_cut_but_inline_kept() {
        let trailing = "Answer\n\n> question\n>\n> more\n\n";
        assert_eq!(cut(trailing), "Answer");
        let inline = "> question one\nanswer one\n> question two\nanswer two";
        assert_eq!(cut(inline), inline);
    }

    #[test]
    fn not_attributions() {
        let text =
            "On Tuesday the server wrote:\nerror 42\nFrom: my laptop\nDate: yesterday\nRouter down";
        assert_eq!(cut(text), text);
        assert_eq!(
            cut("From the office: all good"),
            "From the office: all good"
        );
    }

    #[test]
    fn forwards_keep_everything() {
        let fwd = "FYI\n\n---------- Forwarded message ---------\nFrom: A <a@x.test>\nDate: Tue, 3 Mar 2026\nSubject: x\n\nOn Mon, 2 Mar 2026 at 10:00, B <b@x.test> wrote:\n> hi";
        assert!(forward_marker(fwd).is_some());
        assert_eq!(cut(fwd), fwd);
        let apple = "see below\n\nBegin forwarded message:\n\nFrom: A <a@x.test>\nDate: 3 March 2026\nSubject: x\n";
        assert_eq!(cut(apple), apple.trim_end());
        // A reply whose quote contains a forward: the quote is still cut.
        let reply = "ok\n\nOn Tue, 3 Mar 2026, A <a@x.test> wrote:\n> ---------- Forwarded message ---------\n> x";
        assert_eq!(cut(reply), "ok");
    }

    #[test]
    fn forward_block_first_keeps_everything_quote_first_cuts() {
        let history = "From: Vendor <v@vendor.example>\nDate: Mon, 2 Mar 2026 10:00\nSubject: invoice\n\nOn Mon, 2 Mar 2026, A <a@x.test> wrote:\n> Pay now.";
        for marker in [
            "---------- Forwarded message ---------",
            "-------- Weitergeleitete Nachricht --------",
            "Begin forwarded message:",
            "-------- Message transféré --------",
        ] {
            let fwd = format!("See below.\n\n{marker}\n{history}");
            assert_eq!(forward_marker(&fwd), Some("See below.\n\n".len()));
            assert_eq!(cut(&fwd), fwd, "{marker}");
            // After the quote has started, the marker does not save it.
            let reply = format!(
                "Done.\n\nOn Tue, 3 Mar 2026, B <b@x.test> wrote:\n> hi\n\n{marker}\n{history}"
            );
            assert_eq!(cut(&reply), "Done.", "{marker}");
        }
        // Finnish reply ("VS:" subject): the attribution starts the quote.
        let finnish = "Hei, tulostimen tilalle tarvitaan väritulostin.\n\nMSP-A Helpdesk <help@msp-a.test> kirjoitti 4.3.2025 klo 11.15:\n> Hello Alice,\n>\n> a technician will contact you shortly.\n";
        assert_eq!(
            cut(finnish),
            "Hei, tulostimen tilalle tarvitaan väritulostin."
        );
    }

    #[test]
    fn signature_kept_and_fallback() {
        let sig = "Hi\n\n-- \nBob\nACME\n\nOn Tue, 3 Mar 2026, A <a@x.test> wrote:\n> x";
        assert_eq!(cut(sig), "Hi\n\n-- \nBob\nACME");
        let only_quote = "On Tue, 3 Mar 2026, A <a@x.test> wrote:\n> x\n";
        assert_eq!(cut(only_quote), only_quote.trim_end());
        assert_eq!(cut(""), "");
        assert_eq!(cut("plain\n\n"), "plain");
    }
}
