//! The console's one page frame, its headers, and its error pages.
//!
//! Every page is [`page`] around its body: a skip link, a header with the
//! company, the user, the sections their role may open and the sign-out
//! forms, then `<main>`. Markup is maud's: every value is escaped unless
//! wrapped in `PreEscaped`, which only the stylesheet is. The stylesheet is
//! inline and named by its hash in the Content-Security-Policy, which
//! allows no other style, no script but our own files, and no framing.

use std::sync::LazyLock;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use nestogy_api::admin::html::page_headers;
use nestogy_domain::kernel::roles::Role;
use sha2::{Digest, Sha256};

use crate::api_client::{ApiFailure, FieldProblem, Frame};

/// The form field every console form carries its CSRF token in.
pub const CSRF_FIELD: &str = "csrf";

/// Who is signed in, for the frame of their pages.
#[derive(Debug, Clone)]
pub struct Chrome {
    pub company: String,
    pub user_name: String,
    pub user_email: String,
    /// The role as the API read it on this request.
    pub role: Role,
    /// The CSRF token of this session's forms.
    pub csrf: String,
}

/// The console's sections, in the order the navigation shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Home,
    Tickets,
    Clients,
    Finance,
    Assets,
    Projects,
    Time,
    Reports,
    Settings,
}

impl Section {
    /// The sections built so far; the navigation offers only these.
    pub const ALL: [Section; 9] = [
        Section::Home,
        Section::Tickets,
        Section::Clients,
        Section::Finance,
        Section::Assets,
        Section::Projects,
        Section::Time,
        Section::Reports,
        Section::Settings,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Section::Home => "Home",
            Section::Tickets => "Tickets",
            Section::Clients => "Clients",
            Section::Finance => "Finance",
            Section::Assets => "Assets",
            Section::Projects => "Projects",
            Section::Time => "Time",
            Section::Reports => "Reports",
            Section::Settings => "Settings",
        }
    }

    pub fn href(self) -> &'static str {
        match self {
            Section::Home => "/console",
            Section::Tickets => "/console/tickets",
            Section::Clients => "/console/clients",
            Section::Finance => "/console/invoices",
            Section::Assets => "/console/assets",
            Section::Projects => "/console/projects",
            Section::Time => "/console/time",
            Section::Reports => "/console/reports",
            Section::Settings => "/console/settings",
        }
    }

    /// Whether the navigation offers the section to `role`. Only a hint:
    /// the API decides what each page may show (a tech who types a finance
    /// URL gets the API's 403 as a page).
    pub fn offered_to(self, role: Role) -> bool {
        match self {
            Section::Finance => matches!(role, Role::Admin | Role::Accountant),
            Section::Assets => matches!(role, Role::Admin | Role::Tech),
            Section::Settings => role == Role::Admin,
            _ => true,
        }
    }
}

pub(crate) const STYLE: &str = "\
:root{--fg:#1b1f29;--muted:#535a69;--bg:#f5f6f8;--card:#fff;--line:#d5d9e2;--accent:#1c49b3;\
--bad:#9b1c1c;--warn:#7a4a00;--ok:#1d6b35}\
*{box-sizing:border-box}\
body{font:15px/1.5 system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif;margin:0;color:var(--fg);background:var(--bg)}\
a{color:var(--accent)}\
:focus-visible{outline:3px solid #e89b0c;outline-offset:2px}\
.skip{position:absolute;left:-9999px;top:.3em;background:#fff;color:var(--fg);padding:.5em 1em;z-index:10}\
.skip:focus{left:.5em}\
header{background:#1b1f29;color:#fff;padding:.5em 1em;display:flex;flex-wrap:wrap;gap:.4em 1.5em;align-items:center}\
header a{color:#fff}header .brand{font-weight:700;text-decoration:none}\
header .who{margin-left:auto;display:flex;flex-wrap:wrap;gap:.4em .8em;align-items:center}\
nav ul{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:.2em 1em}\
nav a{text-decoration:none;display:inline-block;padding:.2em 0;border-bottom:2px solid transparent}\
nav a:hover{border-bottom-color:#9aa3b5}nav a[aria-current=page]{border-bottom-color:#fff;font-weight:600}\
main{padding:1em;max-width:1200px;margin:0 auto}\
h1{font-size:1.4em;margin:.3em 0 .7em}h2{font-size:1.1em;margin:0 0 .5em}\
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(20em,1fr));gap:1em}\
section.card{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:.8em 1em;min-width:0}\
.scroll{overflow-x:auto}\
table{border-collapse:collapse;width:100%}\
th,td{border-bottom:1px solid var(--line);padding:.35em .4em;text-align:left;vertical-align:top}\
th{font-weight:600;color:var(--muted)}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\
.muted{color:var(--muted)}.bad{color:var(--bad);font-weight:600}.warn{color:var(--warn);font-weight:600}.ok{color:var(--ok)}\
.problem{background:#fbeaea;border:1px solid #d9a3a3;color:var(--bad);padding:.5em .8em;border-radius:4px}\
.notice{background:#e6f4ea;border:1px solid #9cc9a8;padding:.5em .8em;border-radius:4px}\
form.stack{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:1em 1.2em;max-width:26em}\
form.stack label{display:block;margin:.7em 0 .2em;font-weight:600}\
form.stack input{width:100%;padding:.5em;font:inherit;border:1px solid #7d8496;border-radius:4px}\
form.stack .hint{font-weight:400;color:var(--muted)}\
form.stack input[type=checkbox],form.stack input[type=radio]{width:auto}\
form.stack select,form.stack textarea{width:100%;padding:.5em;font:inherit;border:1px solid #7d8496;border-radius:4px}\
fieldset{border:1px solid var(--line);border-radius:4px;margin:.5em 0}tr.current{background:#eef2fb}\
article.message{background:var(--card);border:1px solid var(--line);border-left:4px solid var(--line);border-radius:6px;padding:.5em 1em;margin:.6em 0}\
article.note{border-left-color:#e89b0c;background:#fff8e6}article.message h3{font-size:1em;margin:0 0 .3em}\
section.card+.grid,.grid+section,.grid+form,section+form,form+section,main>section+section{margin-top:1em}\
.inline label{margin:0 .3em 0 .9em;white-space:nowrap}.inline select,.inline input{margin:.2em 0}.inline button{margin-left:.9em}\
.field-problem{color:var(--bad);margin:.2em 0 0}\
button{font:inherit;padding:.45em 1em;border-radius:4px;border:1px solid #163a8f;background:var(--accent);color:#fff;cursor:pointer}\
form.stack button{margin-top:1em}\
form.stack.wide{max-width:60em}table.line-rows td{padding:.2em}table.line-rows input{margin:0}\
button.secondary{background:var(--card);color:var(--accent)}\
header form{margin:0}header button{background:transparent;border-color:#9aa3b5;padding:.2em .7em}\
dl.figures{display:grid;grid-template-columns:max-content 1fr;gap:.2em 1em;margin:0}\
dl.figures dt{color:var(--muted)}dl.figures dd{margin:0;font-variant-numeric:tabular-nums}\
@media (max-width:640px){header .who{margin-left:0}main{padding:.6em}th,td{padding:.3em .25em}}\
nav.sub{margin:0 0 .8em}nav.sub a[aria-current=page]{border-bottom-color:var(--accent)}\
img.logo-current{max-width:100%;max-height:6em}iframe.preview-frame{width:100%;height:32em;border:1px solid var(--line)}";

/// The Content-Security-Policy of a page whose inline stylesheets are
/// `styles` (each allowed by its hash), scripts only from this site,
/// nothing else.
pub(crate) fn csp(styles: &[&str]) -> HeaderValue {
    let hashes: Vec<String> = styles
        .iter()
        .map(|s| {
            let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(s));
            format!("'sha256-{hash}'")
        })
        .collect();
    let v = format!(
        "default-src 'none'; style-src {}; script-src 'self'; img-src 'self'; \
         connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        hashes.join(" ")
    );
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"))
}

/// The Content-Security-Policy of every console page: the inline
/// stylesheet by its hash.
static CSP: LazyLock<HeaderValue> = LazyLock::new(|| csp(&[STYLE]));

/// The hidden field with the session's CSRF token.
pub fn csrf_field(csrf: &str) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(csrf); }
}

/// The field a form that creates something carries, a key of its own
/// made when the page is drawn: posted twice, the form creates once (see
/// [`crate::api_client::Api::once`]).
pub const ONCE_FIELD: &str = "once";

/// The hidden [`ONCE_FIELD`] with a new key.
pub fn once_field() -> Markup {
    html! { input type="hidden" name=(ONCE_FIELD) value=(uuid::Uuid::now_v7().simple()); }
}

/// A form that is one button posting to `action` with the CSRF token.
pub fn post_button(action: &str, csrf: &str, id: &str, label: &str) -> Markup {
    html! {
        form method="post" action=(action) {
            (csrf_field(csrf))
            button type="submit" id=(id) { (label) }
        }
    }
}

/// A whole page: the frame (with `chrome`, when someone is signed in) around
/// `body`, titled `title`, with `section` marked in the navigation.
pub fn page(
    chrome: Option<&Chrome>,
    section: Option<Section>,
    title: &str,
    body: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Nestogy" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header {
                    a.brand href="/console" { "Nestogy" }
                    @if let Some(c) = chrome {
                        nav aria-label="Sections" {
                            ul {
                                @for s in Section::ALL.iter().filter(|s| s.offered_to(c.role)) {
                                    li {
                                        @if Some(*s) == section {
                                            a id={ "nav-" (s.label().to_lowercase()) } href=(s.href()) aria-current="page" { (s.label()) }
                                        } @else {
                                            a id={ "nav-" (s.label().to_lowercase()) } href=(s.href()) { (s.label()) }
                                        }
                                    }
                                }
                            }
                        }
                        div.who {
                            span #company { (c.company) }
                            a #user href="/console/account" title={ "My account: " (c.user_email) } { (c.user_name) " (" (c.role.as_str()) ")" }
                            (post_button("/console/logout", &c.csrf, "sign-out", "Sign out"))
                            (post_button("/console/logout-everywhere", &c.csrf, "sign-out-everywhere", "Sign out everywhere"))
                        }
                    }
                }
                main #main tabindex="-1" { (body) }
            }
        }
    }
}

/// `markup` as a response with `status` and the headers every console page
/// carries (the admin pages' set, [`page_headers`], with [`CSP`]).
pub fn respond(status: StatusCode, markup: Markup) -> Response {
    respond_under(status, markup, CSP.clone())
}

/// `markup` as a response with `status`, the pages' headers and `csp`.
pub(crate) fn respond_under(status: StatusCode, markup: Markup, csp: HeaderValue) -> Response {
    let mut r = (status, markup.into_string()).into_response();
    page_headers(r.headers_mut(), csp);
    r
}

/// The list of a failure's fields, for a form's top.
pub fn field_problems(fields: &[FieldProblem]) -> Markup {
    html! {
        @if !fields.is_empty() {
            ul #field-problems {
                @for f in fields {
                    li { code { (f.field) } ": " (f.message) }
                }
            }
        }
    }
}

/// A page that says what went wrong, with `status`, in `chrome`'s frame.
pub fn problem(
    status: StatusCode,
    chrome: Option<&Chrome>,
    message: &str,
    fields: &[FieldProblem],
) -> Response {
    let title = match status {
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::NOT_FOUND => "Not found",
        s => s.canonical_reason().unwrap_or("Error"),
    };
    let body = html! {
        h1 { (title) }
        p.problem #problem role="alert" { (message) }
        (field_problems(fields))
        p { a href="/console" { "Back to the console" } }
    };
    respond(status, page(chrome, None, title, body))
}

/// The page of a failed API call (or of a page that cannot be shown): the
/// sign-in page for 401 (and the session ends: [`crate::session::ENDED`]),
/// else a page with the API's status and message. A 5xx says only that
/// something went wrong (the API logged it).
pub fn failure_page(f: &ApiFailure) -> Response {
    let chrome = match f.frame() {
        Some(Frame::Portal(p)) => return crate::portal::layout::failure_page(f, p),
        Some(Frame::Console(c)) => Some(c.as_ref()),
        None => None,
    };
    if f.status == StatusCode::UNAUTHORIZED {
        return crate::session::to_login_ending_session();
    }
    let message = if f.status.is_server_error() {
        "something went wrong on our side; try again in a moment"
    } else {
        f.message.as_str()
    };
    let mut r = problem(f.status, chrome, message, &f.fields);
    if let Some(secs) = f.retry_after_secs
        && let Ok(v) = HeaderValue::from_str(&secs.to_string())
    {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chrome(role: Role) -> Chrome {
        Chrome {
            company: "<Acme & Co>".into(),
            user_name: "Ann".into(),
            user_email: "ann@example.com".into(),
            role,
            csrf: "tok".into(),
        }
    }

    #[test]
    fn the_frame_escapes_and_offers_sections_by_role() {
        let tech = page(
            Some(&chrome(Role::Tech)),
            Some(Section::Home),
            "Home",
            html! {},
        )
        .into_string();
        assert!(tech.contains("&lt;Acme &amp; Co&gt;"));
        assert!(!tech.contains("<Acme"));
        assert!(tech.contains("href=\"/console/tickets\""));
        assert!(!tech.contains("/console/invoices"));
        assert!(tech.contains("aria-current=\"page\""));
        let accountant = page(Some(&chrome(Role::Accountant)), None, "x", html! {}).into_string();
        assert!(accountant.contains("/console/invoices"));
        let admin = page(Some(&chrome(Role::Admin)), None, "x", html! {}).into_string();
        assert!(admin.contains("/console/invoices"));
    }

    #[test]
    fn the_stylesheet_is_named_by_its_hash() {
        let csp = CSP.to_str().unwrap().to_owned();
        assert!(csp.contains("style-src 'sha256-"), "{csp}");
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert!(!STYLE.contains("</"));
    }
}
