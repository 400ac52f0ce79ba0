//! The texts of the messages the platform sends: read them (every role),
//! replace one with the company's own, go back to the built-in one, and
//! preview a text with sample data (admins).

use axum::extract::State;
use nestogy_domain::DomainError;
use nestogy_domain::integrations::mail_texts::{
    self, MailPreview, MailText, MailTextDraft, MailTextInput,
};
use nestogy_domain::kernel::roles::Permission;
use nestogy_domain::platform::mail::MailTemplate;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Principal;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Json, Path};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_texts))
        .routes(routes!(get_text, put_text, reset_text))
        .routes(routes!(preview_text))
}

/// The kind of message a path names; an unknown one is not found.
fn kind(name: &str) -> ApiResult<MailTemplate> {
    Ok(MailTemplate::parse(name).ok_or(DomainError::not_found("mail text"))?)
}

/// Every kind of message the platform sends, with the text it is sent with
/// (the company's own, or the built-in one in the company's language:
/// English, German or French by its locale), the built-in text, and the
/// placeholders it may use.
#[utoipa::path(get, path = "/api/v1/mail-texts", tag = "mail texts",
    responses((status = 200, body = Vec<MailText>)),
    security(("bearer" = [])))]
async fn list_texts(
    p: Principal,
    State(s): State<AppState>,
) -> ApiResult<axum::Json<Vec<MailText>>> {
    p.require(Permission::CompanyRead)?;
    let mut tx = p.tx(&s).await?;
    let list = mail_texts::list(&mut tx).await?;
    tx.end_read();
    Ok(axum::Json(list))
}

/// The text one kind of message is sent with.
#[utoipa::path(get, path = "/api/v1/mail-texts/{template}", tag = "mail texts",
    params(("template" = MailTemplate, Path)),
    responses((status = 200, body = MailText), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_text(
    p: Principal,
    State(s): State<AppState>,
    Path(template): Path<String>,
) -> ApiResult<axum::Json<MailText>> {
    p.require(Permission::CompanyRead)?;
    let template = kind(&template)?;
    let mut tx = p.tx(&s).await?;
    let text = mail_texts::get(&mut tx, template).await?;
    tx.end_read();
    Ok(axum::Json(text))
}

/// Send this kind of message with the company's own subject and body from
/// now on (messages already queued keep their subject). The text is
/// checked here, so sending never fails on it: a subject of one line, at
/// most 300 characters; a body of at most 20,000; only the placeholders
/// listed for the kind, each closed; and those the message cannot do
/// without (`{{ticket.number}}` in a ticket mail's subject, which replies
/// are threaded by; `{{reply.body}}` in a reply; `{{portal.link}}` in a
/// portal mail's body, and never in a subject). Anything else is a 422
/// naming the field. Admins.
#[utoipa::path(put, path = "/api/v1/mail-texts/{template}", tag = "mail texts",
    params(("template" = MailTemplate, Path)), request_body = MailTextInput,
    responses((status = 200, body = MailText), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn put_text(
    p: Principal,
    State(s): State<AppState>,
    Path(template): Path<String>,
    Json(body): Json<MailTextInput>,
) -> ApiResult<axum::Json<MailText>> {
    p.require(Permission::CompanyWrite)?;
    let template = kind(&template)?;
    let mut tx = p.tx(&s).await?;
    let text = mail_texts::save(&mut tx, template, &body, p.user_id).await?;
    p.audit_company(&mut tx, "mail_text.saved", &text).await?;
    tx.commit().await?;
    Ok(axum::Json(text))
}

/// Go back to the built-in text for this kind of message. Answers the text
/// it is sent with now. Admins.
#[utoipa::path(delete, path = "/api/v1/mail-texts/{template}", tag = "mail texts",
    params(("template" = MailTemplate, Path)),
    responses((status = 200, body = MailText), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn reset_text(
    p: Principal,
    State(s): State<AppState>,
    Path(template): Path<String>,
) -> ApiResult<axum::Json<MailText>> {
    p.require(Permission::CompanyWrite)?;
    let template = kind(&template)?;
    let mut tx = p.tx(&s).await?;
    if mail_texts::reset(&mut tx, template).await? {
        p.audit_company(&mut tx, "mail_text.reset", &template)
            .await?;
    }
    let text = mail_texts::get(&mut tx, template).await?;
    tx.commit().await?;
    Ok(axum::Json(text))
}

/// This kind of message written from sample data, with the given subject
/// and body (checked as when saved; nothing is stored), or with the text
/// it is sent with now where they are left out. Admins.
#[utoipa::path(post, path = "/api/v1/mail-texts/{template}/preview", tag = "mail texts",
    params(("template" = MailTemplate, Path)), request_body = MailTextDraft,
    responses((status = 200, body = MailPreview), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn preview_text(
    p: Principal,
    State(s): State<AppState>,
    Path(template): Path<String>,
    Json(body): Json<MailTextDraft>,
) -> ApiResult<axum::Json<MailPreview>> {
    p.require(Permission::CompanyWrite)?;
    let template = kind(&template)?;
    let mut tx = p.tx(&s).await?;
    let preview = mail_texts::preview(&mut tx, template, &body).await?;
    tx.end_read();
    Ok(axum::Json(preview))
}
