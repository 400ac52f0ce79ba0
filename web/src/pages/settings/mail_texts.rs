//! `/console/settings/mail-texts`: the texts of the messages the platform
//! sends (`/api/v1/mail-texts`). The list shows each kind with its subject
//! and whether it is the company's own; a kind's page edits its subject and
//! body beside the placeholders it offers, previews the draft with sample
//! data (nothing stored), saves it (the API's 422 shown on the field), and
//! goes back to the built-in text.

use axum::extract::Path;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::html;
use nestogy_api::admin::session::see_other;
use nestogy_domain::integrations::mail_texts::{MailPreview, MailText};
use nestogy_domain::platform::mail::MailTemplate;
use serde::Deserialize;
use serde_json::json;

use super::{back, changes, recent};
use crate::api_client::ApiFailure;
use crate::layout::{self, Section};
use crate::pages::clients::{input, refusal};
use crate::session::{Console, Form, NoFields};

const BASE: &str = "/console/settings/mail-texts";
const API: &str = "/api/v1/mail-texts";

/// What a kind of message is, for people.
fn title(t: MailTemplate) -> &'static str {
    use MailTemplate as T;
    match t {
        T::Invoice => "Invoice",
        T::Quote => "Quote",
        T::Statement => "Statement of account",
        T::PaymentReceipt => "Payment receipt",
        T::OverdueReminder => "Overdue reminder",
        T::TicketAcknowledgement => "Ticket acknowledgement",
        T::TicketReply => "Public reply on a ticket",
        T::TicketAssigned => "Ticket assigned (to the tech)",
        T::TicketSla => "SLA warning or breach (to staff)",
        T::TicketStatus => "Ticket status change (to watchers)",
        T::WarrantyExpiring => "Warranties expiring (to staff)",
        T::PaymentFailed => "Automatic payment failed",
        T::WebhookDisabled => "Webhook endpoint disabled (to admins)",
        T::ManagementReport => "Management report",
        T::PortalInvitation => "Portal invitation",
        T::PortalSignIn => "Portal sign-in link",
        T::ContractExpiring => "Contract ending (to admins)",
    }
}

fn kind(c: &Console, name: &str) -> Result<MailTemplate, ApiFailure> {
    MailTemplate::parse(name)
        .ok_or_else(|| ApiFailure::not_found("mail text").in_frame(c.chrome.clone()))
}

/// `GET /console/settings/mail-texts`.
pub async fn list(c: Console) -> Result<Response, ApiFailure> {
    // The audit log is the admins' (the settings pages' gate).
    let (texts, latest) = tokio::join!(c.api.get::<Vec<MailText>>(API), recent(&c, "company", 5));
    let (texts, latest) = (texts?, latest?);
    let language = texts.first().map(|t| t.language.as_str()).unwrap_or("en");
    let body = html! {
        (back())
        h1 { "Mail texts" }
        p.muted {
            "The subject and body of every message Nestogy sends. Built-in texts are in the company's language ("
            code { (language) } ", from its locale); a changed text is sent in every language."
        }
        div.scroll { table #mail-texts {
            thead { tr { th { "Message" } th { "Subject" } th { "Text" } } }
            tbody { @for t in &texts {
                tr {
                    td { a href={ (BASE) "/" (t.template.as_str()) } { (title(t.template)) } }
                    td { code { (t.subject) } }
                    td { @if t.customized { strong { "The company's own" } } @else { "Built in" } }
                }
            } }
        } }
        (changes(&c, "mail-text-changes", "Latest changes to the company", &latest))
    };
    Ok(c.page(Section::Settings, "Mail texts", body))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextFields {
    subject: String,
    body: String,
    /// `preview` or `save`.
    #[serde(default)]
    action: String,
}

async fn page(
    c: &Console,
    t: MailTemplate,
    draft: Option<&TextFields>,
    preview: Option<MailPreview>,
    refused: Option<ApiFailure>,
) -> Result<Response, ApiFailure> {
    // The audit log is the admins' (the settings pages' gate).
    let (now, gate) = tokio::join!(
        c.api.get::<MailText>(format!("{API}/{}", t.as_str())),
        recent(c, "company", 1)
    );
    gate?;
    let now = now?;
    let (subject, text) = match draft {
        Some(d) => (d.subject.as_str(), d.body.as_str()),
        None => (now.subject.as_str(), now.body.as_str()),
    };
    let p = refused.as_ref();
    let status = p.map(|e| e.status).unwrap_or(StatusCode::OK);
    let action = format!("{BASE}/{}", t.as_str());
    let body_problem = p.and_then(|f| f.field("body"));
    let body = html! {
        p { a href=(BASE) { "← Mail texts" } }
        h1 { (title(t)) }
        p #mail-text-state {
            @if now.customized {
                "The company's own text is sent"
                @if let Some(at) = now.updated_at { " (changed " (c.fmt.datetime(at)) ")" }
                "."
            } @else {
                "The built-in text (" code { (now.language.as_str()) } ") is sent."
            }
        }
        form.stack #mail-text-form method="post" action=(action) {
            (layout::csrf_field(c.csrf()))
            (refusal(p))
            (input("Subject", "subject", "text", subject, p))
            label for="f-body" { "Body" }
            textarea #f-body name="body" rows="14" aria-invalid=[body_problem.map(|_| "true")] { (text) }
            @if let Some(m) = body_problem { p.field-problem { (m) } }
            div.actions {
                button type="submit" name="action" value="preview" #preview-mail-text { "Preview" }
                " "
                button type="submit" name="action" value="save" #save-mail-text { "Save" }
            }
        }
        @if let Some(v) = &preview {
            section.card #mail-preview aria-labelledby="mail-preview-title" {
                h2 #mail-preview-title { "Preview with sample data" }
                p { strong { "Subject: " } span #preview-subject { (v.subject) } }
                pre #preview-body { (v.body) }
            }
        }
        section.card #placeholders aria-labelledby="placeholders-title" {
            h2 #placeholders-title { "Placeholders" }
            div.scroll { table {
                thead { tr { th { "Write" } th { "For" } } }
                tbody { @for ph in &now.placeholders {
                    tr {
                        td { code { "{{" (ph.name) "}}" } }
                        td {
                            (ph.description)
                            @if let Some(part) = &ph.required_in { " " strong { "(required in the " (part) ")" } }
                        }
                    }
                } }
            } }
        }
        @if now.customized {
            (layout::post_button(&format!("{action}/reset"), c.csrf(), "reset-mail-text", "Go back to the built-in text"))
            details {
                summary { "The built-in text" }
                p { strong { "Subject: " } code { (now.default_subject) } }
                pre { (now.default_body) }
            }
        }
    };
    Ok(c.page_with(status, Some(Section::Settings), title(t), body))
}

/// `GET /console/settings/mail-texts/{template}`.
pub async fn show(c: Console, Path(name): Path<String>) -> Result<Response, ApiFailure> {
    let t = kind(&c, &name)?;
    page(&c, t, None, None, None).await
}

/// `POST /console/settings/mail-texts/{template}`: preview the draft, or
/// save it.
pub async fn save(
    c: Console,
    Path(name): Path<String>,
    Form(f): Form<TextFields>,
) -> Result<Response, ApiFailure> {
    let t = kind(&c, &name)?;
    let draft = json!({"subject": f.subject, "body": f.body});
    if f.action == "preview" {
        let path = format!("{API}/{}/preview", t.as_str());
        return match c.api.send::<MailPreview>(Method::POST, path, &draft).await {
            Ok(v) => page(&c, t, Some(&f), Some(v), None).await,
            Err(e) if e.is_validation() => page(&c, t, Some(&f), None, Some(e)).await,
            Err(e) => Err(e),
        };
    }
    match c
        .api
        .send::<MailText>(Method::PUT, format!("{API}/{}", t.as_str()), &draft)
        .await
    {
        Ok(_) => Ok(see_other(&format!("{BASE}/{}", t.as_str()))),
        Err(e) if e.is_validation() => page(&c, t, Some(&f), None, Some(e)).await,
        Err(e) => Err(e),
    }
}

/// `POST /console/settings/mail-texts/{template}/reset`.
pub async fn reset(
    c: Console,
    Path(name): Path<String>,
    Form(NoFields {}): Form<NoFields>,
) -> Result<Response, ApiFailure> {
    let t = kind(&c, &name)?;
    c.api
        .send_empty::<MailText>(Method::DELETE, format!("{API}/{}", t.as_str()))
        .await?;
    Ok(see_other(&format!("{BASE}/{}", t.as_str())))
}
