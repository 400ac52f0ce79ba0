//! The words of every message the platform sends. Each kind of message
//! ([`MailTemplate`]) has a subject and a body with `{{placeholders}}`
//! (see [`crate::kernel::placeholders`]), built in for English, German and
//! French and chosen by the company's locale; a company may replace them
//! with its own. A text is checked when it is saved: unknown or unclosed
//! placeholders, and a missing placeholder the message cannot do without
//! (the ticket number a reply is threaded by, the link of a sign-in mail),
//! are a 422. So a saved text always fills; should one stop parsing all the
//! same (a placeholder withdrawn by a later version), the built-in text is
//! sent instead of failing the mail.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::billing::locale::{self, Locale};
use crate::kernel::placeholders::{self, Template};
use crate::kernel::text::text_enum;
use crate::kernel::validation::ValidationErrors;
use crate::platform::mail::MailTemplate;
use crate::{DomainResult, TenantTx, UserId, identity::company};

mod builtin;

/// The longest subject, in characters.
pub const MAX_SUBJECT: usize = 300;
/// The longest body, in characters.
pub const MAX_BODY: usize = 20_000;

text_enum!(
    /// A language the built-in texts are written in.
    Language {
        En = "en",
        De = "de",
        Fr = "fr",
    }
);

impl Language {
    /// The language of a company's locale.
    pub fn of(locale: Locale) -> Language {
        match locale.lang() {
            "de" => Language::De,
            "fr" => Language::Fr,
            _ => Language::En,
        }
    }
}

/// A value a placeholder is given in a preview.
#[derive(Debug, Clone, Copy)]
enum Sample {
    Text(&'static str),
    /// An amount in the sample currency.
    Money(i64),
    /// A date, `(year, month, day)`.
    Date(i32, u32, u32),
}

/// A placeholder a kind of message offers.
#[derive(Debug, Clone, Copy)]
struct Slot {
    name: &'static str,
    about: &'static str,
    sample: Sample,
    /// Where the text must use it, if anywhere.
    required: Option<Part>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Subject,
    Body,
}

const fn slot(name: &'static str, about: &'static str, sample: Sample) -> Slot {
    Slot {
        name,
        about,
        sample,
        required: None,
    }
}

const fn required(mut s: Slot, part: Part) -> Slot {
    s.required = Some(part);
    s
}

const COMPANY: Slot = slot(
    "company.name",
    "the company's name",
    Sample::Text("Northwind IT"),
);
const PAYMENT: Slot = slot(
    "company.payment_instructions",
    "the company's payment instructions under a heading, or nothing when it has none",
    Sample::Text("\n\nHow to pay:\nIBAN DE02 1203 0000 0000 2020 51"),
);
const CLIENT: Slot = slot("client.name", "the client's name", Sample::Text("Acme Ltd"));
const INVOICE_NUMBER: Slot = slot(
    "invoice.number",
    "the invoice's number",
    Sample::Text("INV-2026-000042"),
);
const INVOICE_TOTAL: Slot = slot(
    "invoice.total",
    "the invoice's total with its currency",
    Sample::Money(125_000),
);
const INVOICE_BALANCE: Slot = slot(
    "invoice.balance",
    "what is still open of the invoice",
    Sample::Money(75_000),
);
const INVOICE_DUE: Slot = slot(
    "invoice.due_date",
    "the invoice's due date",
    Sample::Date(2026, 12, 31),
);
const TICKET_NUMBER: Slot = slot(
    "ticket.number",
    "the ticket's number with its code (#1042-K7Q2XP); replies find their ticket by it",
    Sample::Text("#1042-K7Q2XP"),
);
const TICKET_SUBJECT: Slot = slot(
    "ticket.subject",
    "the ticket's subject",
    Sample::Text("Printer on the 2nd floor"),
);
const PORTAL_LINK: Slot = slot(
    "portal.link",
    "the one-time link into the client portal",
    Sample::Text("https://desk.example/portal/northwind/sign-in/…"),
);

/// The placeholders of `t`.
fn slots(t: MailTemplate) -> &'static [Slot] {
    use MailTemplate as T;
    use Part::*;
    match t {
        T::Invoice => {
            const S: &[Slot] = &[
                INVOICE_NUMBER,
                INVOICE_TOTAL,
                INVOICE_BALANCE,
                INVOICE_DUE,
                CLIENT,
                COMPANY,
                PAYMENT,
            ];
            S
        }
        T::OverdueReminder => {
            const S: &[Slot] = &[
                INVOICE_NUMBER,
                INVOICE_TOTAL,
                INVOICE_BALANCE,
                INVOICE_DUE,
                slot(
                    "invoice.days_late",
                    "how many days ago the invoice was due",
                    Sample::Text("14"),
                ),
                slot(
                    "invoice.due_ago",
                    "how long ago the invoice was due, in words (\"14 days ago\")",
                    Sample::Text("14 days ago"),
                ),
                slot(
                    "reminder.sent_note",
                    "a sentence saying when the invoice was first sent and that it is attached again",
                    Sample::Text("We sent it to you on 1 Dec 2026; it is attached again."),
                ),
                CLIENT,
                COMPANY,
                PAYMENT,
            ];
            S
        }
        T::Quote => {
            const S: &[Slot] = &[
                slot(
                    "quote.number",
                    "the quote's number",
                    Sample::Text("Q-2026-0007"),
                ),
                slot(
                    "quote.total",
                    "the quote's total with its currency",
                    Sample::Money(480_000),
                ),
                slot(
                    "quote.valid_until",
                    "the last day the quote may be accepted",
                    Sample::Date(2026, 12, 31),
                ),
                CLIENT,
                COMPANY,
            ];
            S
        }
        T::Statement => {
            const S: &[Slot] = &[
                slot(
                    "statement.from",
                    "the first day of the statement",
                    Sample::Date(2026, 11, 1),
                ),
                slot(
                    "statement.to",
                    "the last day of the statement",
                    Sample::Date(2026, 11, 30),
                ),
                slot(
                    "statement.currency",
                    "the statement's currency",
                    Sample::Text("EUR"),
                ),
                CLIENT,
                COMPANY,
                PAYMENT,
            ];
            S
        }
        T::PaymentReceipt => {
            const S: &[Slot] = &[
                slot(
                    "payment.amount",
                    "the amount received",
                    Sample::Money(50_000),
                ),
                slot(
                    "payment.date",
                    "the day it was paid",
                    Sample::Date(2026, 12, 3),
                ),
                INVOICE_NUMBER,
                INVOICE_BALANCE,
                CLIENT,
                COMPANY,
            ];
            S
        }
        T::TicketAcknowledgement => {
            const S: &[Slot] = &[required(TICKET_NUMBER, Subject), TICKET_SUBJECT, COMPANY];
            S
        }
        T::TicketReply => {
            const S: &[Slot] = &[
                required(TICKET_NUMBER, Subject),
                TICKET_SUBJECT,
                required(
                    slot(
                        "reply.body",
                        "the reply as written",
                        Sample::Text("Please restart the printer and try again."),
                    ),
                    Body,
                ),
                COMPANY,
            ];
            S
        }
        T::TicketAssigned => {
            const S: &[Slot] = &[
                TICKET_NUMBER,
                TICKET_SUBJECT,
                slot(
                    "assigned_by",
                    "who assigned the ticket",
                    Sample::Text("Alice Admin"),
                ),
                COMPANY,
            ];
            S
        }
        T::TicketSla => {
            const S: &[Slot] = &[
                TICKET_NUMBER,
                TICKET_SUBJECT,
                slot(
                    "sla.target",
                    "which target (first response or resolution)",
                    Sample::Text("resolution"),
                ),
                slot(
                    "sla.state",
                    "the target's state (warning or breached)",
                    Sample::Text("breached"),
                ),
                slot(
                    "sla.due_at",
                    "when the target is due",
                    Sample::Text("2026-12-04 17:00 UTC"),
                ),
                COMPANY,
            ];
            S
        }
        T::TicketStatus => {
            const S: &[Slot] = &[
                required(TICKET_NUMBER, Subject),
                TICKET_SUBJECT,
                slot(
                    "ticket.status",
                    "the ticket's new status, in the company's language",
                    Sample::Text("resolved"),
                ),
                COMPANY,
            ];
            S
        }
        T::WarrantyExpiring => {
            const S: &[Slot] = &[
                CLIENT,
                slot(
                    "assets.count",
                    "how many assets the mail lists, in words (\"2 assets\")",
                    Sample::Text("2 assets"),
                ),
                slot(
                    "assets.list",
                    "the assets, a line each, with when their warranty ends",
                    Sample::Text(
                        "- Laptop 14 (serial 5CD1234): expires 20 Dec 2026, in 15 days\n- Firewall (hostname fw1): expires 4 Jan 2027, in 30 days",
                    ),
                ),
                COMPANY,
            ];
            S
        }
        T::PaymentFailed => {
            const S: &[Slot] = &[
                INVOICE_NUMBER,
                INVOICE_BALANCE,
                slot(
                    "failure.reason",
                    "why the payment failed, as the payment provider says",
                    Sample::Text("card declined"),
                ),
                slot(
                    "failure.next_step",
                    "a sentence saying when the payment is tried again, or that it is not",
                    Sample::Text("We will try again on 8 Dec 2026."),
                ),
                CLIENT,
                COMPANY,
                PAYMENT,
            ];
            S
        }
        T::WebhookDisabled => {
            const S: &[Slot] = &[
                slot(
                    "webhook.url",
                    "the endpoint's address",
                    Sample::Text("https://hooks.example/nestogy"),
                ),
                slot(
                    "webhook.reason",
                    "why it was disabled",
                    Sample::Text("every delivery failed for 3 days"),
                ),
                slot(
                    "webhook.endpoint_id",
                    "the endpoint's id",
                    Sample::Text("0193c0de-0000-7000-8000-000000000000"),
                ),
                COMPANY,
            ];
            S
        }
        T::ManagementReport => {
            const S: &[Slot] = &[
                slot(
                    "report.period",
                    "the month the report covers",
                    Sample::Text("November 2026"),
                ),
                slot(
                    "report.figures",
                    "the report's key figures, a line each",
                    Sample::Text("\n  Invoiced: €42,000.00\n  Collected: €39,500.00"),
                ),
                COMPANY,
            ];
            S
        }
        T::PortalInvitation => {
            const S: &[Slot] = &[
                required(PORTAL_LINK, Body),
                slot(
                    "portal.expires_at",
                    "when the link stops working",
                    Sample::Text("12 Dec 2026 14:00 UTC"),
                ),
                COMPANY,
            ];
            S
        }
        T::PortalSignIn => {
            const S: &[Slot] = &[
                required(PORTAL_LINK, Body),
                slot(
                    "portal.expires_at",
                    "when the link stops working",
                    Sample::Text("5 Dec 2026 14:15 UTC"),
                ),
                COMPANY,
            ];
            S
        }
        T::ContractExpiring => {
            const S: &[Slot] = &[
                slot(
                    "contract.name",
                    "the contract's name",
                    Sample::Text("Managed services 2026"),
                ),
                CLIENT,
                slot(
                    "contract.end_date",
                    "the contract's last day",
                    Sample::Date(2026, 12, 31),
                ),
                slot(
                    "contract.days_left",
                    "how many days are left",
                    Sample::Text("30"),
                ),
                slot(
                    "contract.ends_in",
                    "how long is left, in words (\"in 30 days\")",
                    Sample::Text("in 30 days"),
                ),
                COMPANY,
            ];
            S
        }
    }
}

/// The placeholder names `t` offers.
pub fn names(t: MailTemplate) -> Vec<&'static str> {
    slots(t).iter().map(|s| s.name).collect()
}

/// A placeholder, as the API describes it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PlaceholderInfo {
    /// Written `{{name}}`.
    pub name: String,
    pub description: String,
    /// `subject` or `body` when the text must use it there.
    pub required_in: Option<String>,
}

/// The text a kind of message is sent with.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MailText {
    pub template: MailTemplate,
    pub subject: String,
    pub body: String,
    /// The company's own text; `false` when it is the built-in one.
    pub customized: bool,
    /// The language of the built-in text (the company's locale's).
    pub language: Language,
    /// The built-in subject, for comparison or to start over from.
    pub default_subject: String,
    /// The built-in body.
    pub default_body: String,
    pub placeholders: Vec<PlaceholderInfo>,
    pub updated_at: Option<DateTime<Utc>>,
    pub updated_by: Option<UserId>,
}

/// A company's own text for a kind of message.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MailTextInput {
    /// One line, at most 300 characters.
    pub subject: String,
    /// At most 20,000 characters.
    pub body: String,
}

/// A text to preview: absent fields are the text the company sends now.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MailTextDraft {
    pub subject: Option<String>,
    pub body: Option<String>,
}

/// A message written from sample data.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MailPreview {
    pub template: MailTemplate,
    pub subject: String,
    pub body: String,
}

/// A subject and a body, parsed.
#[derive(Debug, Clone)]
pub struct Words {
    subject: Template,
    body: Template,
}

impl Words {
    /// The subject and body with `values` filled in. The subject is one
    /// line: line breaks in values become spaces.
    pub fn fill(&self, values: &HashMap<&str, String>) -> (String, String) {
        let subject = self
            .subject
            .fill(values)
            .split(['\r', '\n'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        (subject, self.body.fill(values))
    }
}

/// Checks a text for `t`: lengths, one-line subject, placeholders known,
/// closed and, where the message needs them, present.
pub fn check(t: MailTemplate, input: &MailTextInput) -> Result<Words, ValidationErrors> {
    let mut v = ValidationErrors::new();
    let known = names(t);
    let subject = if input.subject.trim().is_empty() {
        v.add("subject", "required", "subject must not be empty");
        None
    } else if input.subject.chars().count() > MAX_SUBJECT {
        v.add(
            "subject",
            "too_long",
            format!("subject must be at most {MAX_SUBJECT} characters"),
        );
        None
    } else if input.subject.contains(['\r', '\n']) {
        v.add("subject", "line_break", "subject must be one line");
        None
    } else {
        placeholders::check(&mut v, "subject", input.subject.trim(), &known)
    };
    let body = if input.body.trim().is_empty() {
        v.add("body", "required", "body must not be empty");
        None
    } else if input.body.chars().count() > MAX_BODY {
        v.add(
            "body",
            "too_long",
            format!("body must be at most {MAX_BODY} characters"),
        );
        None
    } else {
        placeholders::check(&mut v, "body", &input.body, &known)
    };
    for s in slots(t) {
        // What the body needs (a sign-in link, the reply) stays out of the
        // subject, which is stored and shown in lists.
        if s.required == Some(Part::Body)
            && let Some(subject) = &subject
            && subject.names().contains(&s.name)
        {
            v.add(
                "subject",
                "body_only_placeholder",
                format!("{{{{{}}}}} belongs in the body, not the subject", s.name),
            );
        }
        let (field, text) = match s.required {
            Some(Part::Subject) => ("subject", &subject),
            Some(Part::Body) => ("body", &body),
            None => continue,
        };
        if let Some(text) = text
            && !text.names().contains(&s.name)
        {
            v.add(
                field,
                "required_placeholder",
                format!("{field} must contain {{{{{}}}}}: {}", s.name, s.about),
            );
        }
    }
    match (subject, body) {
        (Some(subject), Some(body)) if v.is_empty() => Ok(Words { subject, body }),
        _ => Err(v),
    }
}

fn builtin_words(t: MailTemplate, lang: Language) -> Words {
    let (subject, body) = builtin::text(t, lang);
    let known = names(t);
    // The built-in texts are checked by this module's tests; a parse
    // failure here would be a bug caught there.
    let parse = |s: &str| Template::parse(s, &known).unwrap_or_else(|_| Template::literal(s));
    Words {
        subject: parse(subject),
        body: parse(body),
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    template: String,
    subject: String,
    body: String,
    updated_at: DateTime<Utc>,
    updated_by: Option<UserId>,
}

async fn rows(tx: &mut TenantTx, only: Option<MailTemplate>) -> DomainResult<Vec<Row>> {
    let tenant = tx.tenant();
    Ok(sqlx::query_as(
        "SELECT template, subject, body, updated_at, updated_by FROM mail_texts \
         WHERE company_id = $1 AND ($2::text IS NULL OR template = $2)",
    )
    .bind(tenant)
    .bind(only.map(MailTemplate::as_str))
    .fetch_all(tx.conn())
    .await?)
}

async fn language(tx: &mut TenantTx) -> DomainResult<(Language, Locale)> {
    let c = company::get(tx).await?;
    let locale = Locale::parse(&c.locale);
    Ok((Language::of(locale), locale))
}

fn describe(t: MailTemplate, lang: Language, row: Option<Row>) -> MailText {
    let (default_subject, default_body) = builtin::text(t, lang);
    let placeholders = slots(t)
        .iter()
        .map(|s| PlaceholderInfo {
            name: s.name.to_owned(),
            description: s.about.to_owned(),
            required_in: s.required.map(|p| match p {
                Part::Subject => "subject".to_owned(),
                Part::Body => "body".to_owned(),
            }),
        })
        .collect();
    let (subject, body, updated_at, updated_by) = match &row {
        Some(r) => (
            r.subject.clone(),
            r.body.clone(),
            Some(r.updated_at),
            r.updated_by,
        ),
        None => (
            default_subject.to_owned(),
            default_body.to_owned(),
            None,
            None,
        ),
    };
    MailText {
        template: t,
        subject,
        body,
        customized: row.is_some(),
        language: lang,
        default_subject: default_subject.to_owned(),
        default_body: default_body.to_owned(),
        placeholders,
        updated_at,
        updated_by,
    }
}

/// Every kind of message with the text it is sent with, in
/// [`MailTemplate::ALL`]'s order.
pub async fn list(tx: &mut TenantTx) -> DomainResult<Vec<MailText>> {
    let (lang, _) = language(tx).await?;
    let mut own = rows(tx, None).await?;
    Ok(MailTemplate::ALL
        .iter()
        .map(|&t| {
            let row = own
                .iter()
                .position(|r| r.template == t.as_str())
                .map(|i| own.swap_remove(i));
            describe(t, lang, row)
        })
        .collect())
}

/// The text `t` is sent with.
pub async fn get(tx: &mut TenantTx, t: MailTemplate) -> DomainResult<MailText> {
    let (lang, _) = language(tx).await?;
    let row = rows(tx, Some(t)).await?.pop();
    Ok(describe(t, lang, row))
}

/// Stores the company's own text for `t` after [`check`]ing it.
pub async fn save(
    tx: &mut TenantTx,
    t: MailTemplate,
    input: &MailTextInput,
    by: UserId,
) -> DomainResult<MailText> {
    check(t, input).map_err(crate::DomainError::Validation)?;
    let (tenant, now) = (tx.tenant(), tx.now());
    sqlx::query(
        "INSERT INTO mail_texts (company_id, template, subject, body, updated_by, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (company_id, template) DO UPDATE SET subject = EXCLUDED.subject, \
         body = EXCLUDED.body, updated_by = EXCLUDED.updated_by, updated_at = EXCLUDED.updated_at",
    )
    .bind(tenant)
    .bind(t.as_str())
    .bind(input.subject.trim())
    .bind(&input.body)
    .bind(by)
    .bind(now)
    .execute(tx.conn())
    .await?;
    get(tx, t).await
}

/// Goes back to the built-in text for `t`; answers whether there was an
/// own text.
pub async fn reset(tx: &mut TenantTx, t: MailTemplate) -> DomainResult<bool> {
    let tenant = tx.tenant();
    let done = sqlx::query("DELETE FROM mail_texts WHERE company_id = $1 AND template = $2")
        .bind(tenant)
        .bind(t.as_str())
        .execute(tx.conn())
        .await?;
    Ok(done.rows_affected() > 0)
}

/// The words `t` is written with now: the company's own text, else the
/// built-in one in the language of its `locale` (the caller has the
/// company already).
pub async fn words(tx: &mut TenantTx, t: MailTemplate, locale: Locale) -> DomainResult<Words> {
    let lang = Language::of(locale);
    let own = rows(tx, Some(t)).await?.pop().and_then(|r| {
        check(
            t,
            &MailTextInput {
                subject: r.subject,
                body: r.body,
            },
        )
        .ok()
    });
    Ok(own.unwrap_or_else(|| builtin_words(t, lang)))
}

/// `t` written from sample data: with `draft`'s subject and body where
/// given (checked as [`save`] checks them), else the text sent now.
pub async fn preview(
    tx: &mut TenantTx,
    t: MailTemplate,
    draft: &MailTextDraft,
) -> DomainResult<MailPreview> {
    let company = company::get(tx).await?;
    let locale = Locale::parse(&company.locale);
    let current = describe(t, Language::of(locale), rows(tx, Some(t)).await?.pop());
    let currency = company.currency;
    let input = MailTextInput {
        subject: draft.subject.clone().unwrap_or(current.subject),
        body: draft.body.clone().unwrap_or(current.body),
    };
    let words = check(t, &input).map_err(crate::DomainError::Validation)?;
    let values = samples(t, locale, &currency);
    let (subject, body) = words.fill(&values);
    Ok(MailPreview {
        template: t,
        subject,
        body,
    })
}

fn samples(t: MailTemplate, locale: Locale, currency: &str) -> HashMap<&'static str, String> {
    slots(t)
        .iter()
        .map(|s| {
            let value = match s.sample {
                Sample::Text(x) => x.to_owned(),
                Sample::Money(minor) => {
                    locale::format_money(Decimal::new(minor, 2), currency, locale)
                }
                Sample::Date(y, m, d) => NaiveDate::from_ymd_opt(y, m, d)
                    .map(|d| locale::format_date(d, locale))
                    .unwrap_or_default(),
            };
            (s.name, value)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_text_parses_and_uses_what_its_message_needs() {
        for &t in MailTemplate::ALL {
            for &lang in Language::ALL {
                let (subject, body) = builtin::text(t, lang);
                let input = MailTextInput {
                    subject: subject.to_owned(),
                    body: body.to_owned(),
                };
                if let Err(e) = check(t, &input) {
                    panic!("{} in {}: {:?}", t.as_str(), lang.as_str(), e.0);
                }
            }
        }
    }

    #[test]
    fn built_in_texts_differ_by_language() {
        for &t in MailTemplate::ALL {
            let en = builtin::text(t, Language::En);
            assert_ne!(en, builtin::text(t, Language::De), "{}", t.as_str());
            assert_ne!(en, builtin::text(t, Language::Fr), "{}", t.as_str());
        }
    }

    #[test]
    fn a_reply_without_its_body_or_ticket_number_is_refused() {
        let e = check(
            MailTemplate::TicketReply,
            &MailTextInput {
                subject: "Re: {{ticket.subject}}".into(),
                body: "Thanks, {{company.name}}".into(),
            },
        )
        .expect_err("refused");
        let codes: Vec<_> = e.0.iter().map(|f| (f.field.as_str(), f.code)).collect();
        assert_eq!(
            codes,
            vec![
                ("subject", "required_placeholder"),
                ("body", "required_placeholder")
            ]
        );
    }

    #[test]
    fn unknown_placeholders_line_breaks_and_lengths_are_refused() {
        let t = MailTemplate::Invoice;
        let bad = |subject: &str, body: &str| {
            check(
                t,
                &MailTextInput {
                    subject: subject.into(),
                    body: body.into(),
                },
            )
            .expect_err("refused")
            .0
            .into_iter()
            .map(|f| f.code)
            .collect::<Vec<_>>()
        };
        assert_eq!(
            bad("Invoice {{ticket.number}}", "x"),
            vec!["unknown_placeholder"]
        );
        assert_eq!(bad("a\r\nBcc: x@y", "x"), vec!["line_break"]);
        assert_eq!(bad("ok", "{{invoice.number"), vec!["unclosed_placeholder"]);
        assert_eq!(bad(" ", " "), vec!["required", "required"]);
        assert_eq!(bad(&"x".repeat(301), "x"), vec!["too_long"]);
    }

    #[test]
    fn a_filled_subject_is_one_line() {
        let w = check(
            MailTemplate::TicketAcknowledgement,
            &MailTextInput {
                subject: "[{{ticket.number}}] {{ticket.subject}}".into(),
                body: "ok".into(),
            },
        )
        .expect("valid");
        let mut values = HashMap::new();
        values.insert("ticket.number", "#1-AB".to_owned());
        values.insert("ticket.subject", "two\r\nlines".to_owned());
        assert_eq!(w.fill(&values).0, "[#1-AB] two lines");
    }

    #[test]
    fn samples_fill_every_placeholder() {
        for &t in MailTemplate::ALL {
            let values = samples(t, Locale::DeDe, "EUR");
            for n in names(t) {
                assert!(
                    values.get(n).is_some_and(|v| !v.is_empty()),
                    "{} {n}",
                    t.as_str()
                );
            }
        }
    }
}
