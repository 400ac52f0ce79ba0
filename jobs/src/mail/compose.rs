//! What each kind of message says. Subjects are fixed when a message is
//! created; bodies are written when it is delivered, from the data as it is
//! then. Amounts and dates follow the company's locale; the wording is
//! English.

use nestogy_domain::billing::documents::{DocRef, Period};
use nestogy_domain::billing::invoices::{self, Invoice};
use nestogy_domain::billing::locale::{self, Locale};
use nestogy_domain::identity::company::{self, Company};
use nestogy_domain::platform::mail::{MailTemplate, NewMessage};
use nestogy_domain::{
    ClientId, DomainError, DomainResult, InvoiceId, PaymentId, QuoteId, TenantTx,
    billing::payments, billing::quotes, customers::clients, customers::contacts, kernel::money,
};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;

/// A message's words and what goes with it.
#[derive(Debug, Clone)]
pub struct Composed {
    pub subject: String,
    pub text: String,
    /// The document whose PDF is attached.
    pub attachment: Option<DocRef>,
}

struct Words {
    company: Company,
    locale: Locale,
}

impl Words {
    async fn load(tx: &mut TenantTx) -> DomainResult<Words> {
        let company = company::get(tx).await?;
        let locale = Locale::parse(&company.locale);
        Ok(Words { company, locale })
    }
    fn money(&self, x: Decimal, currency: &str) -> String {
        let minor = money::minor_units(currency).unwrap_or(2);
        locale::format_money(money::to_minor(x, minor), currency, self.locale)
    }
    fn date(&self, d: chrono::NaiveDate) -> String {
        locale::format_date(d, self.locale)
    }
    fn sign_off(&self) -> String {
        let mut s = String::from("\n\nKind regards,\n");
        s.push_str(&self.company.name);
        if let Some(p) = &self.company.branding.payment_instructions {
            s.push_str("\n\nHow to pay:\n");
            s.push_str(p);
        }
        s
    }
}

fn number(inv: &Invoice) -> &str {
    inv.number.as_deref().unwrap_or("(draft)")
}

fn param_str<'a>(params: &'a Value, key: &str) -> &'a str {
    params.get(key).and_then(Value::as_str).unwrap_or("")
}

fn subject_uuid(subject_id: Option<Uuid>) -> DomainResult<Uuid> {
    subject_id.ok_or_else(|| DomainError::Internal("message has no subject id".into()))
}

/// The statement period a message's params name.
pub fn statement_period(params: &Value) -> DomainResult<Period> {
    serde_json::from_value(params.get("period").cloned().unwrap_or(Value::Null))
        .map_err(|e| DomainError::Internal(format!("statement message without a period: {e}")))
}

/// Writes a message of `template` about `subject_id`.
pub async fn compose(
    tx: &mut TenantTx,
    template: MailTemplate,
    subject_id: Option<Uuid>,
    params: &Value,
) -> DomainResult<Composed> {
    let w = Words::load(tx).await?;
    let company = w.company.name.clone();
    Ok(match template {
        MailTemplate::Invoice | MailTemplate::OverdueReminder => {
            let id = InvoiceId(subject_uuid(subject_id)?);
            let inv = invoices::get(tx, id).await?;
            let (total, balance) = (
                w.money(inv.total, &inv.currency),
                w.money(inv.balance, &inv.currency),
            );
            let due = w.date(inv.due_date);
            let (subject, intro) = if template == MailTemplate::Invoice {
                (
                    format!("Invoice {} from {company}", number(&inv)),
                    format!(
                        "Hello,\n\nplease find attached invoice {} for {total}, due on {due}.",
                        number(&inv)
                    ),
                )
            } else {
                // How late it is now (older messages carry only the offset).
                let late = params
                    .get("days_late")
                    .or_else(|| params.get("days"))
                    .and_then(Value::as_i64)
                    .unwrap_or(0);
                let ago = match late {
                    1 => "1 day ago".to_owned(),
                    n => format!("{n} days ago"),
                };
                // Reminders go only for invoices mailed before (see `billing::Remind`).
                let sent = params
                    .get("first_sent")
                    .and_then(Value::as_str)
                    .and_then(|d| d.parse::<chrono::NaiveDate>().ok())
                    .map(|d| format!("We sent it to you on {}; it", w.date(d)))
                    .unwrap_or_else(|| "It".to_owned());
                (
                    format!("Reminder: invoice {} is overdue", number(&inv)),
                    format!(
                        "Hello,\n\nour records show that invoice {} was due on {due}, {ago}, \
                         and {balance} of {total} is still open. {sent} is attached again. \
                         If you have paid it meanwhile, please disregard this reminder.",
                        number(&inv)
                    ),
                )
            };
            Composed {
                subject,
                text: intro + &w.sign_off(),
                attachment: Some(DocRef::Invoice { id }),
            }
        }
        MailTemplate::Quote => {
            let id = QuoteId(subject_uuid(subject_id)?);
            let q = quotes::get(tx, id).await?;
            let no = q.number.clone().unwrap_or_else(|| "(draft)".into());
            Composed {
                subject: format!("Quote {no} from {company}"),
                text: format!(
                    "Hello,\n\nplease find attached our quote {no} for {}, valid until {}.\n\nKind regards,\n{company}",
                    w.money(q.total, &q.currency),
                    w.date(q.valid_until)
                ),
                attachment: Some(DocRef::Quote { id }),
            }
        }
        MailTemplate::Statement => {
            let client = ClientId(subject_uuid(subject_id)?);
            let period = statement_period(params)?;
            Composed {
                subject: format!(
                    "Statement of account from {company}, {} to {}",
                    w.date(period.from),
                    w.date(period.to)
                ),
                text: format!(
                    "Hello,\n\nplease find attached your statement of account in {} for {} to {}.{}",
                    period.currency,
                    w.date(period.from),
                    w.date(period.to),
                    w.sign_off()
                ),
                attachment: Some(DocRef::Statement { client, period }),
            }
        }
        MailTemplate::PaymentReceipt => {
            let id = PaymentId(subject_uuid(subject_id)?);
            let p = payments::get(tx, id).await?;
            let inv = invoices::get(tx, p.invoice_id).await?;
            Composed {
                subject: format!("Receipt for your payment to {company}"),
                text: format!(
                    "Hello,\n\nthank you: we received your payment of {} on {} for invoice {}.\n\
                     The balance of the invoice is now {}.\n\nKind regards,\n{company}",
                    w.money(p.amount, &p.currency),
                    w.date(p.paid_on),
                    number(&inv),
                    w.money(inv.balance, &inv.currency)
                ),
                attachment: None,
            }
        }
        MailTemplate::TicketAcknowledgement => {
            let (no, subj) = (
                param_str(params, "ticket_number"),
                param_str(params, "ticket_subject"),
            );
            Composed {
                subject: format!("[{no}] {subj}"),
                text: format!(
                    "Hello,\n\nwe received your request and opened ticket {no}. \
                     Reply to this message to add to it; keep [{no}] in the subject.\n\n{company} support"
                ),
                attachment: None,
            }
        }
        MailTemplate::TicketReply => {
            let (no, subj) = (
                param_str(params, "ticket_number"),
                param_str(params, "ticket_subject"),
            );
            Composed {
                subject: format!("Re: [{no}] {subj}"),
                text: format!("{}\n\n-- \n{company} support", param_str(params, "body")),
                attachment: None,
            }
        }
        MailTemplate::TicketAssigned => {
            let (no, subj) = (
                param_str(params, "ticket_number"),
                param_str(params, "ticket_subject"),
            );
            Composed {
                subject: format!("Ticket {no} assigned to you: {subj}"),
                text: format!(
                    "Ticket {no} ({subj}) was assigned to you by {}.",
                    param_str(params, "by")
                ),
                attachment: None,
            }
        }
        MailTemplate::TicketSla => {
            let (no, subj) = (
                param_str(params, "ticket_number"),
                param_str(params, "ticket_subject"),
            );
            let state = param_str(params, "state");
            Composed {
                subject: format!("SLA {state}: ticket {no} {subj}"),
                text: format!(
                    "The {} target of ticket {no} ({subj}) is {state}: due {}.",
                    param_str(params, "target"),
                    param_str(params, "due_at")
                ),
                attachment: None,
            }
        }
        MailTemplate::WarrantyExpiring => {
            let client = param_str(params, "client_name");
            let assets = params
                .get("assets")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let mut lines = String::new();
            for a in &assets {
                let expires = a
                    .get("warranty_expires")
                    .and_then(Value::as_str)
                    .and_then(|d| d.parse::<chrono::NaiveDate>().ok())
                    .map(|d| w.date(d))
                    .unwrap_or_default();
                let days = a.get("days_left").and_then(Value::as_i64).unwrap_or(0);
                let mut ids = Vec::new();
                for key in ["serial", "hostname"] {
                    if let Some(x) = a.get(key).and_then(Value::as_str) {
                        ids.push(format!("{key} {x}"));
                    }
                }
                let ids = if ids.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", ids.join(", "))
                };
                lines.push_str(&format!(
                    "\n- {}{ids}: expires {expires}, in {days} {}",
                    param_str(a, "name"),
                    if days == 1 { "day" } else { "days" }
                ));
            }
            Composed {
                subject: warranty_subject(client, assets.len()),
                text: format!(
                    "The warranties of these assets of {client} expire soon:\n{lines}\n\n-- \n{company}"
                ),
                attachment: None,
            }
        }
        MailTemplate::PaymentFailed => {
            let id = InvoiceId(subject_uuid(subject_id)?);
            let inv = invoices::get(tx, id).await?;
            let next = params
                .get("next_attempt_on")
                .and_then(Value::as_str)
                .and_then(|d| d.parse::<chrono::NaiveDate>().ok())
                .map(|d| format!("We will try again on {}.", w.date(d)))
                .unwrap_or_else(|| {
                    "We will not try again automatically; please pay the invoice another way."
                        .into()
                });
            Composed {
                subject: payment_failed_subject(&inv),
                text: format!(
                    "Hello,\n\nthe automatic payment of {} for invoice {} could not be taken: {}.\n{next}{}",
                    w.money(inv.balance, &inv.currency),
                    number(&inv),
                    param_str(params, "reason"),
                    w.sign_off()
                ),
                attachment: None,
            }
        }
        MailTemplate::ManagementReport => {
            let period = param_str(params, "period_label");
            let mut figures = String::new();
            for k in params
                .get("kpis")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                figures.push_str(&format!(
                    "\n  {}: {}",
                    param_str(k, "label"),
                    param_str(k, "value")
                ));
            }
            Composed {
                subject: management_subject(period),
                text: format!(
                    "Hello,\n\nattached is the management report of {company} for {period}, with charts.\n{figures}\n\nThe figures by client, product and day are in the reports (GET /api/v1/reports), also as CSV.\n\n-- \n{company}"
                ),
                attachment: None,
            }
        }
        MailTemplate::WebhookDisabled => {
            let url = param_str(params, "url");
            Composed {
                subject: format!("Webhook endpoint disabled: {url}"),
                text: format!(
                    "The webhook endpoint {url} was disabled: {}.\n\nNo events are sent to it \
                     until an administrator enables it again (POST /api/v1/webhooks/endpoints/{}/enable); \
                     the deliveries that failed can then be redelivered.\n\n-- \n{company}",
                    param_str(params, "reason"),
                    subject_id.map(|u| u.to_string()).unwrap_or_default()
                ),
                attachment: None,
            }
        }
    })
}

/// The subject of a failed automatic payment's notice.
pub fn payment_failed_subject(inv: &Invoice) -> String {
    format!("Automatic payment of invoice {} failed", number(inv))
}

/// The subject of a warranty alert about `count` assets of `client`.
pub fn management_subject(period: &str) -> String {
    format!("Management report {period}")
}

pub fn warranty_subject(client: &str, count: usize) -> String {
    if count == 1 {
        format!("Warranty expiring soon: 1 asset of {client}")
    } else {
        format!("Warranties expiring soon: {count} assets of {client}")
    }
}

/// A message about a document (or a payment) to the client's billing
/// contacts, once per `dedupe_key`.
pub async fn document_message(
    tx: &mut TenantTx,
    template: MailTemplate,
    subject_id: Uuid,
    params: Value,
    dedupe_key: String,
) -> DomainResult<NewMessage> {
    let (kind, client) = match template {
        MailTemplate::Invoice | MailTemplate::OverdueReminder => {
            let inv = invoices::get(tx, InvoiceId(subject_id)).await?;
            ("invoice", inv.client_id)
        }
        MailTemplate::Quote => (
            "quote",
            quotes::get(tx, QuoteId(subject_id)).await?.client_id,
        ),
        MailTemplate::Statement => {
            let client = ClientId(subject_id);
            clients::ensure_exists(tx, client).await?;
            ("client", client)
        }
        MailTemplate::PaymentReceipt => (
            "payment",
            payments::get(tx, PaymentId(subject_id)).await?.client_id,
        ),
        other => {
            return Err(DomainError::Internal(format!(
                "{} is not a message about a document",
                other.as_str()
            )));
        }
    };
    let recipients = contacts::billing_recipients(tx, client).await?;
    let composed = compose(tx, template, Some(subject_id), &params).await?;
    Ok(NewMessage {
        dedupe_key,
        template,
        subject_kind: Some(kind),
        subject_id: Some(subject_id),
        params,
        recipients,
        subject: composed.subject,
    })
}

/// Params of a statement message.
pub fn statement_params(period: &Period) -> Value {
    json!({ "period": period })
}
