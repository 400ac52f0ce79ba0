//! `/console/settings/branding`: what documents carry of the company.
//!
//! - The logo: `PUT /api/v1/company/logo` takes the raw image as the body
//!   with its content type (PNG or SVG), so the console's upload form is a
//!   browser form (`multipart/form-data`, [`upload_logo`]) whose CSRF field
//!   is read and checked before the file part is forwarded as that body.
//!   The current logo is shown through [`logo`], its `src` named by a digest
//!   of the image so a new upload is never a cached old one.
//! - The brand fields (accent colour, tax id, footer, payment
//!   instructions): `PATCH /api/v1/company` with `branding`.
//! - The preview: the API renders documents only as PDFs, of real
//!   documents, by a job (202 until rendered), and names each rendering by
//!   a digest of its data and the logo. So the preview is the tenant's
//!   newest invoice as the API renders it now ([`preview_pdf`]), framed by
//!   the page: after a change the API renders it again, and the page says
//!   so until it is ready. A tenant without an invoice is told to make one.

use axum::extract::Multipart;
use axum::extract::multipart::MultipartRejection;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::html;
use nestogy_api::admin::session::see_other;
use nestogy_domain::billing::invoices::Invoice;
use nestogy_domain::identity::company::{Branding, Company, DEFAULT_ACCENT};
use nestogy_domain::kernel::pagination::Page;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{back, changes, recent, same_secret};
use crate::api_client::{ApiBody, ApiBytes, ApiFailure};
use crate::layout::{self, CSRF_FIELD, Section};
use crate::pages::clients::{document, input, refusal};
use crate::session::{Console, Form, NoFields};

const LOGO_API: &str = "/api/v1/company/logo";

/// The brand fields' form.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrandFields {
    #[serde(default)]
    accent_color: String,
    #[serde(default)]
    tax_id: String,
    #[serde(default)]
    footer: String,
    #[serde(default)]
    payment_instructions: String,
}

fn some(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

impl BrandFields {
    fn of(b: &Branding) -> Self {
        let s = |o: &Option<String>| o.clone().unwrap_or_default();
        BrandFields {
            accent_color: s(&b.accent_color),
            tax_id: s(&b.tax_id),
            footer: s(&b.footer),
            payment_instructions: s(&b.payment_instructions),
        }
    }

    /// `branding` replaces the whole branding: every field is sent.
    fn patch_body(&self) -> serde_json::Value {
        json!({ "branding": Branding {
            tax_id: some(&self.tax_id),
            accent_color: some(&self.accent_color),
            footer: some(&self.footer),
            payment_instructions: some(&self.payment_instructions),
        } })
    }
}

/// Which form of the page the API refused.
enum Refused {
    Brand(BrandFields, ApiFailure),
    Logo(ApiFailure),
}

/// The logo as the API has it, if there is one.
async fn current_logo(c: &Console) -> Result<Option<ApiBytes>, ApiFailure> {
    match c
        .api
        .bytes(Method::GET, LOGO_API, ApiBody::Empty, None)
        .await
    {
        Ok(b) => Ok(Some(b)),
        Err(f) if f.status == StatusCode::NOT_FOUND => Ok(None),
        Err(f) => Err(f),
    }
}

/// The first 16 hex digits of the SHA-256 of `bytes`: a name for a version.
fn short_digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The preview's state: the newest invoice's PDF as the API has it now.
enum Preview {
    /// No invoice to show.
    NoInvoice,
    /// Being rendered (again); the page says to reload.
    Rendering,
    /// Rendered: framed, named by the rendering's digest.
    Ready(String),
}

async fn newest_invoice(c: &Console) -> Result<Option<Invoice>, ApiFailure> {
    let page: Page<Invoice> = c.api.get("/api/v1/invoices?limit=1").await?;
    Ok(page.data.into_iter().next())
}

async fn preview(c: &Console) -> Result<Preview, ApiFailure> {
    let Some(inv) = newest_invoice(c).await? else {
        return Ok(Preview::NoInvoice);
    };
    let r = c
        .api
        .bytes(
            Method::GET,
            format!("/api/v1/invoices/{}/pdf", inv.id),
            ApiBody::Empty,
            Some("application/pdf"),
        )
        .await?;
    if r.status == StatusCode::ACCEPTED {
        return Ok(Preview::Rendering);
    }
    let version = r
        .headers
        .get(header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim_matches('"').chars().take(16).collect())
        .unwrap_or_else(|| short_digest(&r.bytes));
    Ok(Preview::Ready(version))
}

async fn page(c: &Console, refused: Option<Refused>) -> Result<Response, ApiFailure> {
    let (latest, logo, preview) =
        tokio::join!(recent(c, "company", 5), current_logo(c), preview(c));
    let (latest, logo, preview) = (latest?, logo?, preview?);
    let (brand, brand_problem, logo_problem) = match &refused {
        Some(Refused::Brand(f, e)) => (None, Some((f, e)), None),
        Some(Refused::Logo(e)) => (Some(BrandFields::of(&c.company.branding)), None, Some(e)),
        None => (Some(BrandFields::of(&c.company.branding)), None, None),
    };
    let status = match &refused {
        Some(Refused::Brand(_, e)) | Some(Refused::Logo(e)) => e.status,
        None => StatusCode::OK,
    };
    let b = &c.company.branding;
    let body = html! {
        (back())
        h1 { "Branding" }
        div.grid {
            section.card #logo aria-labelledby="logo-title" {
                h2 #logo-title { "Logo" }
                @match &logo {
                    Some(l) => {
                        p { img #current-logo src={ "/console/settings/branding/logo?v=" (short_digest(&l.bytes)) }
                            class="logo-current" alt={ "The logo of " (c.company.name) }; }
                        (layout::post_button("/console/settings/branding/logo/delete", c.csrf(), "delete-logo", "Remove the logo"))
                    }
                    None => p.muted #no-logo { "No logo yet: documents show the company's name." }
                }
                form.stack #logo-form method="post" action="/console/settings/branding/logo" enctype="multipart/form-data" {
                    (layout::csrf_field(c.csrf()))
                    (refusal(logo_problem))
                    label for="logo-file" { "New logo " span.hint { "(PNG or SVG, at most 512 KiB)" } }
                    input #logo-file name="logo" type="file" accept="image/png,image/svg+xml" required;
                    button type="submit" #upload-logo { "Upload logo" }
                }
            }
            section.card #brand aria-labelledby="brand-title" {
                h2 #brand-title { "Documents" }
                @let d = BrandFields::default();
                @let (f, p) = match (&brand, brand_problem) {
                    (Some(f), _) => (f, None),
                    (None, Some((f, e))) => (f, Some(e)),
                    (None, None) => (&d, None),
                };
                form.stack #brand-form method="post" action="/console/settings/branding" {
                    (layout::csrf_field(c.csrf()))
                    (refusal(p))
                    (input(&format!("Accent colour (like {DEFAULT_ACCENT}; now {})", b.accent()), "accent_color", "text", &f.accent_color, p))
                    (input("Tax id (VAT number)", "tax_id", "text", &f.tax_id, p))
                    label for="f-footer" { "Footer " span.hint { "(printed at the foot of every page)" } }
                    textarea #f-footer name="footer" rows="2" { (f.footer) }
                    label for="f-payment_instructions" { "Payment instructions " span.hint { "(bank details, a link)" } }
                    textarea #f-payment_instructions name="payment_instructions" rows="3" { (f.payment_instructions) }
                    button type="submit" #save-branding { "Save" }
                }
            }
        }
        section.card #branding-preview aria-labelledby="preview-title" {
            h2 #preview-title { "Preview" }
            @match &preview {
                Preview::NoInvoice => p.muted #preview-none {
                    "The preview shows your newest invoice with the current branding: "
                    a href="/console/invoices/new" { "create a draft invoice" } " to see one."
                },
                Preview::Rendering => p.notice #preview-rendering role="status" {
                    "Your newest invoice is being rendered with the current branding. "
                    a href="/console/settings/branding#branding-preview" { "Reload" } " in a moment."
                },
                Preview::Ready(v) => {
                    p.muted { "Your newest invoice as the API renders it now." }
                    iframe #preview-frame src={ "/console/settings/branding/preview.pdf?v=" (v) }
                        class="preview-frame" title="Preview of the newest invoice" {}
                    p { a href={ "/console/settings/branding/preview.pdf?v=" (v) } { "Open the preview (PDF)" } }
                }
            }
        }
        (changes(c, "branding-changes", "Latest changes to the company", &latest))
    };
    let mut r = c.page_with(status, Some(Section::Settings), "Branding", body);
    allow_own_frames(&mut r);
    Ok(r)
}

/// The page frames its own preview: the console's policy plus
/// `frame-src 'self'` (and nothing else changes).
fn allow_own_frames(r: &mut Response) {
    let h = r.headers_mut();
    let Some(csp) = h
        .get(header::CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
    else {
        return;
    };
    let widened = format!("{csp}; frame-src 'self'");
    if let Ok(v) = HeaderValue::from_str(&widened) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
}

/// `GET /console/settings/branding`.
pub async fn show(c: Console) -> Result<Response, ApiFailure> {
    page(&c, None).await
}

/// `POST /console/settings/branding`: the brand fields.
pub async fn update(c: Console, Form(f): Form<BrandFields>) -> Result<Response, ApiFailure> {
    match c
        .api
        .send::<Company>(Method::PATCH, "/api/v1/company", &f.patch_body())
        .await
    {
        Ok(_) => Ok(see_other("/console/settings/branding")),
        Err(e) if e.is_validation() => page(&c, Some(Refused::Brand(f, e))).await,
        Err(e) => Err(e),
    }
}

/// The logo form's parts.
#[derive(Default)]
struct Upload {
    csrf: Option<String>,
    content_type: String,
    bytes: Vec<u8>,
}

async fn read_upload(mut m: Multipart) -> Result<Upload, ()> {
    let mut u = Upload::default();
    while let Some(field) = m.next_field().await.map_err(|_| ())? {
        match field.name() {
            Some(CSRF_FIELD) => u.csrf = Some(field.text().await.map_err(|_| ())?),
            Some("logo") => {
                u.content_type = field.content_type().unwrap_or_default().to_owned();
                u.bytes = field.bytes().await.map_err(|_| ())?.to_vec();
            }
            _ => return Err(()),
        }
    }
    Ok(u)
}

/// `POST /console/settings/branding/logo` (`multipart/form-data`): the
/// CSRF field is checked first; only then is the file sent to the API as
/// `PUT /api/v1/company/logo` with its content type. The API says whether
/// it is a usable PNG or SVG (422 re-renders the page with its reason).
pub async fn upload_logo(
    c: Console,
    m: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiFailure> {
    let Ok(m) = m else {
        return Ok(c.problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the logo from the branding page's form (multipart/form-data)",
        ));
    };
    let Ok(u) = read_upload(m).await else {
        return Ok(c.problem(StatusCode::BAD_REQUEST, "the form could not be read"));
    };
    if !u.csrf.is_some_and(|t| same_secret(&t, c.csrf())) {
        return Ok(c.problem(
            StatusCode::FORBIDDEN,
            "this form is out of date or did not come from this site: reload the page and try again",
        ));
    }
    let sent = c
        .api
        .bytes(
            Method::PUT,
            LOGO_API,
            ApiBody::Raw {
                content_type: u.content_type,
                bytes: u.bytes,
            },
            Some("application/json"),
        )
        .await;
    match sent {
        Ok(_) => Ok(see_other("/console/settings/branding")),
        Err(e) if e.is_validation() => page(&c, Some(Refused::Logo(e))).await,
        Err(e) => Err(e),
    }
}

/// `POST /console/settings/branding/logo/delete`.
pub async fn delete_logo(
    c: Console,
    Form(NoFields {}): Form<NoFields>,
) -> Result<Response, ApiFailure> {
    c.api
        .bytes(Method::DELETE, LOGO_API, ApiBody::Empty, None)
        .await?;
    Ok(see_other("/console/settings/branding"))
}

/// `GET /console/settings/branding/logo`: the logo as uploaded. An SVG
/// opened on its own runs nothing: the answer carries a sandboxing policy.
pub async fn logo(c: Console) -> Result<Response, ApiFailure> {
    let l = c
        .api
        .bytes(Method::GET, LOGO_API, ApiBody::Empty, None)
        .await?;
    let mut r = (StatusCode::OK, l.bytes).into_response();
    let h = r.headers_mut();
    if let Some(v) = l.headers.get(header::CONTENT_TYPE) {
        h.insert(header::CONTENT_TYPE, v.clone());
    }
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; sandbox"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    Ok(r)
}

/// `GET /console/settings/branding/preview.pdf`: the newest invoice's PDF
/// as the API renders it now (the page's preview frame).
pub async fn preview_pdf(c: Console) -> Result<Response, ApiFailure> {
    let Some(inv) = newest_invoice(&c).await? else {
        return Err(ApiFailure::not_found("invoice").in_frame(c.chrome.clone()));
    };
    document(
        &c,
        &format!("/api/v1/invoices/{}/pdf", inv.id),
        "Branding preview",
    )
    .await
}
