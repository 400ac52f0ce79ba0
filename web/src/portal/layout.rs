//! A portal's page frame: the tenant's name, logo and accent colour, the
//! sections a contact may open, and the sign-out forms; its error pages.
//!
//! The frame uses the console's stylesheet and adds one of its own, the
//! tenant's accent colour (`:root{--accent:#rrggbb}`), allowed by its hash
//! in the page's Content-Security-Policy.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use nestogy_api::routes::portal::PortalCompany;

use crate::api_client::{ApiFailure, FieldProblem};
use crate::layout::{self, STYLE, csrf_field, post_button};

/// The portal a page belongs to and, once signed in, who is reading it.
#[derive(Debug, Clone)]
pub struct PortalChrome {
    pub company: PortalCompany,
    pub who: Option<Who>,
}

/// The signed-in contact, for the frame.
#[derive(Debug, Clone)]
pub struct Who {
    pub contact_name: String,
    pub client_name: String,
    /// Billing contacts see invoices, quotes and statements.
    pub billing: bool,
    /// The CSRF token of this session's forms.
    pub csrf: String,
}

impl PortalChrome {
    /// The portal's address: `/portal/{slug}`.
    pub fn base(&self) -> String {
        format!("/portal/{}", self.company.portal_slug)
    }

    /// `/portal/{slug}{rest}`.
    pub fn href(&self, rest: &str) -> String {
        format!("/portal/{}{rest}", self.company.portal_slug)
    }

    /// The sections this contact may open, in the navigation's order.
    fn sections(&self) -> Vec<PortalSection> {
        let Some(who) = &self.who else {
            return Vec::new();
        };
        let mut out = vec![PortalSection::Tickets];
        if who.billing {
            out.extend([PortalSection::Invoices, PortalSection::Quotes]);
        }
        if self.company.show_assets {
            out.push(PortalSection::Assets);
        }
        out.push(PortalSection::Profile);
        out
    }
}

/// A portal's sections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortalSection {
    Tickets,
    Invoices,
    Quotes,
    Assets,
    Profile,
}

impl PortalSection {
    pub fn label(self) -> &'static str {
        match self {
            PortalSection::Tickets => "Tickets",
            PortalSection::Invoices => "Invoices",
            PortalSection::Quotes => "Quotes",
            PortalSection::Assets => "Assets",
            PortalSection::Profile => "Profile",
        }
    }

    /// The section's path under the portal's address.
    pub fn path(self) -> &'static str {
        match self {
            PortalSection::Tickets => "/tickets",
            PortalSection::Invoices => "/invoices",
            PortalSection::Quotes => "/quotes",
            PortalSection::Assets => "/assets",
            PortalSection::Profile => "/profile",
        }
    }
}

/// The tenant's accent colour as a stylesheet, when it is `#rrggbb`.
fn accent_style(company: &PortalCompany) -> Option<String> {
    let c = company.accent_color.as_deref()?;
    let ok = c.len() == 7 && c.starts_with('#') && c[1..].bytes().all(|b| b.is_ascii_hexdigit());
    ok.then(|| format!(":root{{--accent:{c}}}"))
}

/// A whole portal page: the frame around `body`.
pub fn page(
    chrome: &PortalChrome,
    section: Option<PortalSection>,
    title: &str,
    body: Markup,
) -> Markup {
    page_refreshing(chrome, section, title, None, body)
}

/// [`page`] that the browser leaves for `refresh` (`(seconds, url)`) by
/// itself: a navigation of its own, so it may go to another site (a
/// payment page) where a form's redirect may not (`form-action 'self'`).
pub fn page_refreshing(
    chrome: &PortalChrome,
    section: Option<PortalSection>,
    title: &str,
    refresh: Option<(u32, &str)>,
    body: Markup,
) -> Markup {
    let accent = accent_style(&chrome.company);
    let company = &chrome.company;
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (company.name) }
                @if let Some((secs, url)) = refresh {
                    meta http-equiv="refresh" content={ (secs) ";url=" (url) };
                }
                style { (PreEscaped(STYLE)) }
                @if let Some(a) = &accent {
                    style { (PreEscaped(a)) }
                }
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header {
                    a.brand #portal-brand href=(chrome.base()) {
                        @if let Some(logo) = &company.logo_url {
                            img.portal-logo src=(logo) alt="" height="28";
                            " "
                        }
                        (company.name)
                    }
                    @if let Some(who) = &chrome.who {
                        nav aria-label="Sections" {
                            ul {
                                @for s in chrome.sections() {
                                    li {
                                        @if Some(s) == section {
                                            a id={ "nav-" (s.label().to_lowercase()) } href=(chrome.href(s.path())) aria-current="page" { (s.label()) }
                                        } @else {
                                            a id={ "nav-" (s.label().to_lowercase()) } href=(chrome.href(s.path())) { (s.label()) }
                                        }
                                    }
                                }
                            }
                        }
                        div.who {
                            span #contact { (who.contact_name) " · " (who.client_name) }
                            (post_button(&chrome.href("/sign-out"), &who.csrf, "sign-out", "Sign out"))
                            (post_button(&chrome.href("/sign-out-everywhere"), &who.csrf, "sign-out-everywhere", "Sign out everywhere"))
                        }
                    }
                }
                main #main tabindex="-1" { (body) }
            }
        }
    }
}

/// `markup` (a [`page`] of `chrome`'s) as a response with `status`.
pub fn respond(chrome: &PortalChrome, status: StatusCode, markup: Markup) -> Response {
    let csp = match accent_style(&chrome.company) {
        Some(a) => layout::csp(&[STYLE, &a]),
        None => layout::csp(&[STYLE]),
    };
    layout::respond_under(status, markup, csp)
}

/// A page saying what went wrong, with `status`, in `chrome`'s frame.
pub fn problem(
    status: StatusCode,
    chrome: &PortalChrome,
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
        (layout::field_problems(fields))
        p { a href=(chrome.base()) { "Back to the portal" } }
    };
    respond(chrome, status, page(chrome, None, title, body))
}

/// The page of a failed API call in a portal: a 401 ends the session and
/// goes to the portal's sign-in page; a 5xx says only that something went
/// wrong; anything else says what the API said.
pub fn failure_page(f: &ApiFailure, chrome: &PortalChrome) -> Response {
    if f.status == StatusCode::UNAUTHORIZED {
        return super::session::to_sign_in_ending_session(&chrome.company.portal_slug);
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

/// The page of an address that is no portal (the company unknown).
pub fn no_portal() -> Response {
    let body = html! {
        h1 { "Not found" }
        p.problem #problem role="alert" { "There is no client portal at this address." }
    };
    layout::respond(
        StatusCode::NOT_FOUND,
        layout::page(None, None, "Not found", body),
    )
}

/// A form's hidden CSRF field (the console's).
pub fn csrf(who: &Who) -> Markup {
    csrf_field(&who.csrf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn company(accent: Option<&str>) -> PortalCompany {
        PortalCompany {
            name: "<Acme IT>".into(),
            portal_slug: "acme-it".into(),
            logo_url: None,
            accent_color: accent.map(str::to_owned),
            reopen_days: 14,
            priorities: Vec::new(),
            show_assets: false,
            locale: "en-US".into(),
            time_zone: "UTC".into(),
            currency: "USD".into(),
        }
    }

    #[test]
    fn the_accent_is_a_colour_or_nothing() {
        assert_eq!(
            accent_style(&company(Some("#12aB9f"))).as_deref(),
            Some(":root{--accent:#12aB9f}")
        );
        for bad in ["red", "#12345", "#1234567", "#12345g", "#123;}x"] {
            assert_eq!(accent_style(&company(Some(bad))), None, "{bad}");
        }
    }

    #[test]
    fn the_frame_escapes_and_offers_sections_by_flags() {
        let mut c = PortalChrome {
            company: company(None),
            who: Some(Who {
                contact_name: "Ann".into(),
                client_name: "Client Co".into(),
                billing: false,
                csrf: "tok".into(),
            }),
        };
        let html = page(&c, None, "x", html! {}).into_string();
        assert!(html.contains("&lt;Acme IT&gt;"));
        assert!(html.contains("/portal/acme-it/tickets"));
        assert!(!html.contains("/portal/acme-it/invoices"));
        assert!(!html.contains("/portal/acme-it/assets"));
        c.company.show_assets = true;
        if let Some(w) = c.who.as_mut() {
            w.billing = true;
        }
        let html = page(&c, None, "x", html! {}).into_string();
        assert!(html.contains("/portal/acme-it/invoices"));
        assert!(html.contains("/portal/acme-it/assets"));
    }
}
