//! HTML for the admin pages: escaping, the page frame, and error pages.
//! Every value printed goes through [`esc`]; nothing loads from elsewhere
//! (no script, no font, no stylesheet but the inline one), and the
//! Content-Security-Policy says so to the browser.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

use crate::error::ApiError;

/// `s` with `& < > " '` escaped: safe in text and in quoted attributes.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// At most `max` characters of `s`, with an ellipsis when cut (not escaped).
pub fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// An instant as people read it, in UTC.
pub fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// How long ago `t` was at `now` ("4 s ago", "in 2 min").
pub fn ago(now: DateTime<Utc>, t: DateTime<Utc>) -> String {
    let secs = (now - t).num_seconds();
    let (n, future) = (secs.unsigned_abs(), secs < 0);
    let span = match n {
        0..=119 => format!("{n} s"),
        120..=7199 => format!("{} min", n / 60),
        7200..=172_799 => format!("{} h", n / 3600),
        _ => format!("{} d", n / 86_400),
    };
    if future {
        format!("in {span}")
    } else {
        format!("{span} ago")
    }
}

const STYLE: &str = "\
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f4f5f7}\
header{background:#1d2330;color:#fff;padding:.6em 1.5em;display:flex;gap:1.5em;align-items:center}\
header a{color:#cfd8ff;text-decoration:none}header form{margin:0 0 0 auto}main{padding:1em 1.5em;max-width:1400px}\
h1{font-size:1.35em;margin:.4em 0 .6em}h2{font-size:1.1em;margin:1.4em 0 .5em}\
table{border-collapse:collapse;background:#fff;width:100%;margin-bottom:1em}\
th,td{border:1px solid #dde;padding:.3em .55em;text-align:left;vertical-align:top}\
th{background:#eceef3;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}\
pre{background:#fff;border:1px solid #dde;padding:.6em;white-space:pre-wrap;word-break:break-all;margin:0}\
code{font-size:.92em;word-break:break-all}.err{color:#a4161a}\
.state{display:inline-block;padding:0 .45em;border-radius:3px;background:#e3e6ee}\
.state.dead{background:#f7d4d4}.state.succeeded{background:#d5f0dc}\
.state.running{background:#d6e6fb}.state.failed_will_retry{background:#fbecc8}\
.tabs a{margin-right:.9em}.tabs a.on{font-weight:700}\
.notice{background:#d5f0dc;border:1px solid #9c9;padding:.5em .8em;margin:.6em 0}\
.problem{background:#f7d4d4;border:1px solid #c99;padding:.5em .8em;margin:.6em 0}\
button{font:inherit;padding:.25em .9em;cursor:pointer}\
form.login{background:#fff;border:1px solid #dde;padding:1em 1.4em;max-width:22em}\
form.login label{display:block;margin:.5em 0 .15em}form.login input{width:100%;box-sizing:border-box;padding:.3em}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25em 1em}dt{font-weight:600}dd{margin:0}\
.stale{color:#a4161a}.muted{color:#667}";

/// The signed-in part of the frame: who, and the sign-out form.
pub struct Frame<'a> {
    /// The CSRF token of the session's forms.
    pub csrf: &'a str,
}

/// A whole page: the frame around `body` (already escaped HTML).
pub fn page(title: &str, frame: Option<&Frame<'_>>, body: &str) -> String {
    let nav = match frame {
        Some(f) => format!(
            "<a href=\"/admin/queues\">Queues</a>\
             <a href=\"/admin/queues/jobs?state=dead\">Dead jobs</a>\
             <a href=\"/admin/queues#workers\">Workers</a>\
             <form method=\"post\" action=\"/admin/logout\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <button type=\"submit\" id=\"sign-out\">Sign out</button></form>",
            esc(f.csrf)
        ),
        None => String::new(),
    };
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · Nestogy admin</title><style>{STYLE}</style></head>\
         <body><header><strong>Nestogy admin</strong>{nav}</header><main>{body}</main></body></html>",
        esc(title)
    )
}

/// `html` as a response with `status` and the headers every admin page
/// carries ([`page_headers`]): no script, nothing from elsewhere.
pub fn respond(status: StatusCode, html: String) -> Response {
    let mut r = (status, Body::from(html)).into_response();
    page_headers(
        r.headers_mut(),
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    r
}

/// The headers of every server-rendered page (the admin pages' and the
/// console's, crate `nestogy-web`): HTML, no caching, the page's
/// Content-Security-Policy `csp`, no framing, no sniffing, no referrer.
pub fn page_headers(h: &mut HeaderMap, csp: HeaderValue) {
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::CONTENT_SECURITY_POLICY, csp);
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

/// A page that says what went wrong, with `status`.
pub fn problem(status: StatusCode, frame: Option<&Frame<'_>>, message: &str) -> Response {
    let title = status.canonical_reason().unwrap_or("Error");
    let body = format!(
        "<h1>{} {}</h1><p class=\"problem\" id=\"problem\">{}</p>\
         <p><a href=\"/admin/queues\">Back to the queues</a></p>",
        status.as_u16(),
        esc(title),
        esc(message)
    );
    respond(status, page(title, frame, &body))
}

/// The status and message `e` answers with in the API (the one mapping in
/// [`crate::error`]), for an HTML page.
pub async fn status_and_message(e: ApiError) -> (StatusCode, String, Option<HeaderValue>) {
    let r = e.into_response();
    let status = r.status();
    let retry_after = r.headers().get(header::RETRY_AFTER).cloned();
    let bytes = axum::body::to_bytes(r.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    let message = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "something went wrong".to_owned());
    (status, message, retry_after)
}

/// `e` as an HTML page, with the status and message the API would give it.
pub async fn error_page(e: ApiError, frame: Option<&Frame<'_>>) -> Response {
    let (status, message, retry_after) = status_and_message(e).await;
    let mut r = problem(status, frame, &message);
    if let Some(v) = retry_after {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc("<script>alert(\"x\" & 'y')</script>"),
            "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;"
        );
    }

    #[test]
    fn cuts_on_characters() {
        assert_eq!(cut("ééé", 2), "éé…");
        assert_eq!(cut("ab", 2), "ab");
    }

    #[test]
    fn says_how_long_ago() {
        let now = DateTime::parse_from_rfc3339("2026-03-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(ago(now, now - chrono::Duration::seconds(4)), "4 s ago");
        assert_eq!(ago(now, now - chrono::Duration::minutes(5)), "5 min ago");
        assert_eq!(ago(now, now + chrono::Duration::seconds(30)), "in 30 s");
    }
}
