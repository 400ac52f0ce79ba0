//! Text in a charset nobody declared, or declared wrongly: raw 8-bit
//! headers, bodies without `charset=`, windows-1251 labelled ISO-8859-1.
//! Valid UTF-8 is taken as UTF-8; anything else is guessed by chardetng
//! (the detector Firefox uses) and decoded with encoding_rs.

use chardetng::{EncodingDetector, Iso2022JpDetection, Utf8Detection};
use encoding_rs::Encoding;

/// The most likely encoding of `sample` (UTF-8 allowed).
pub fn guess(sample: &[u8]) -> &'static Encoding {
    let mut detector = EncodingDetector::new(Iso2022JpDetection::Allow);
    detector.feed(sample, true);
    detector.guess(None, Utf8Detection::Allow)
}

/// `bytes` as text: UTF-8 when they are valid UTF-8, else decoded in the
/// encoding guessed from `sample` (which should contain `bytes`; more text
/// of the same origin makes a better guess).
pub fn decode_guessing(bytes: &[u8], sample: &[u8]) -> String {
    if let Ok(s) = std::str::from_utf8(bytes) {
        return s.to_owned();
    }
    let (text, _) = guess(sample).decode_without_bom_handling(bytes);
    text.into_owned()
}

/// Whether `text`, decoded as a Latin single-byte charset, is really
/// another one: most of its letters are Latin-1 accented letters
/// (U+00C0–U+00FF), as windows-1251 or KOI8-R text read as ISO-8859-1 is
/// ("Ýòî ñîîáùåíèå"), while real Latin text is mostly ASCII letters.
pub fn looks_misdecoded(text: &str) -> bool {
    let (mut accented, mut letters) = (0usize, 0usize);
    for c in text.chars().filter(|c| c.is_alphabetic()) {
        letters += 1;
        if ('\u{c0}'..='\u{ff}').contains(&c) {
            accented += 1;
        }
    }
    letters >= 4 && accented * 2 > letters
}

/// Whether `bytes` hold anything beyond ASCII.
pub fn has_8bit(bytes: &[u8]) -> bool {
    bytes.iter().any(|b| *b >= 0x80)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cyrillic_in_either_single_byte_charset_is_recognised() {
        let text = "Добрый день! Принтер в бухгалтерии не печатает с самого утра.";
        let (cp1251, _, _) = encoding_rs::WINDOWS_1251.encode(text);
        let (koi8, _, _) = encoding_rs::KOI8_R.encode(text);
        assert_eq!(decode_guessing(&cp1251, &cp1251), text);
        assert_eq!(decode_guessing(&koi8, &koi8), text);
        assert_eq!(decode_guessing(text.as_bytes(), b""), text);
        let (latin1_view, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(&cp1251);
        assert!(looks_misdecoded(&latin1_view), "{latin1_view}");
        assert!(!looks_misdecoded("Grüße aus München, schöne Äpfel"));
        assert!(!looks_misdecoded("Ça va très bien, merci"));
        assert!(has_8bit(&cp1251) && !has_8bit(b"plain"));
    }
}
