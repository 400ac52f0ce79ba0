//! `Content-Disposition` for downloads (RFC 6266): a quoted ASCII
//! `filename` for old clients, and `filename*=UTF-8''…` (RFC 8187
//! percent-encoding) with the real name for every current one, so
//! "Счет на оплату.pdf" downloads under its name, not as underscores.

use axum::http::HeaderValue;

/// `attachment` or `inline` with `filename` as RFC 6266 asks.
pub fn content_disposition(kind: &str, filename: &str) -> HeaderValue {
    let fallback: String = filename
        .chars()
        .map(|c| {
            if (c.is_ascii_graphic() && c != '"' && c != '\\') || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut value = format!("{kind}; filename=\"{fallback}\"");
    if fallback != filename {
        value.push_str("; filename*=UTF-8''");
        for b in filename.bytes() {
            // RFC 8187 attr-char.
            if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                value.push(b as char);
            } else {
                value.push_str(&format!("%{b:02X}"));
            }
        }
    }
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

#[cfg(test)]
mod tests {
    use super::content_disposition;

    #[test]
    fn non_ascii_names_survive_with_an_ascii_fallback() {
        assert_eq!(
            content_disposition("attachment", "report 2026.pdf"),
            "attachment; filename=\"report 2026.pdf\""
        );
        assert_eq!(
            content_disposition("attachment", "Счет 17.pdf"),
            "attachment; filename=\"____ 17.pdf\"; filename*=UTF-8''%D0%A1%D1%87%D0%B5%D1%82%2017.pdf"
        );
        assert_eq!(
            content_disposition("inline", "a\"b.txt"),
            "inline; filename=\"a_b.txt\"; filename*=UTF-8''a%22b.txt"
        );
    }
}
