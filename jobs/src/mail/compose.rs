//! What each kind of message says. Subjects are fixed when a message is
//! created; bodies are written when it is delivered, from the data as it is
//! then. Amounts and dates follow the company's locale; the wording is
//! English.

use nestogy_domain::billing::documents::{DocRef, Period};
use nestogy_domain::billing::invoices::{self, Invoice};
use nestogy_domain::billing::locale::{self, Locale};
use nestogy_domain::identity::company::{self, Company};
use nestogy_domain::platform::mail::NewMessage;
use nestogy_domain::{
    ClientId, DomainError, DomainResult, InvoiceId, PaymentId, QuoteId, TenantTx,
    WebhookEndpointId, billing::payments, billing::quotes, customers::clients, customers::contacts,
    kernel::money,
};
use rust_decimal::Decimal;

use super::message::{
    ChargeFailure, EndpointDisabled, ExpiringContract, ExpiringWarranties, ManagementReport,
    Message, PortalLink, Reminder, SlaChange, StatusChange, TicketTitle,
};

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

/// Writes `message`.
pub async fn compose(tx: &mut TenantTx, message: &Message) -> DomainResult<Composed> {
    let w = Words::load(tx).await?;
    match message {
        Message::Invoice { invoice } => invoice_mail(tx, &w, *invoice).await,
        Message::OverdueReminder { invoice, reminder } => {
            overdue_reminder(tx, &w, *invoice, reminder).await
        }
        Message::Quote { quote } => quote_mail(tx, &w, *quote).await,
        Message::Statement { client, period } => Ok(statement(&w, *client, period)),
        Message::PaymentReceipt { payment } => payment_receipt(tx, &w, *payment).await,
        Message::TicketAcknowledgement { about, .. } => Ok(ticket_acknowledgement(&w, about)),
        Message::TicketReply { about, body, .. } => Ok(ticket_reply(&w, about, body)),
        Message::TicketAssigned { about, by, .. } => Ok(ticket_assigned(about, by)),
        Message::TicketSla { about, change, .. } => Ok(ticket_sla(about, change)),
        Message::TicketStatus { about, change, .. } => Ok(ticket_status(&w, about, change)),
        Message::WarrantyExpiring { alert, .. } => Ok(warranty_expiring(&w, alert)),
        Message::PaymentFailed { invoice, failure } => {
            payment_failed(tx, &w, *invoice, failure).await
        }
        Message::ManagementReport { report } => Ok(management_report(&w, report)),
        Message::WebhookDisabled { endpoint, disabled } => {
            Ok(webhook_disabled(&w, *endpoint, disabled))
        }
        Message::PortalInvitation { link, .. } => Ok(portal_invitation(&w, link)),
        Message::PortalSignIn { link, .. } => Ok(portal_sign_in(&w, link)),
        Message::ContractExpiring { alert, .. } => Ok(contract_expiring(&w, alert)),
    }
}

/// The subject of a portal invitation.
pub fn portal_invitation_subject(company: &str) -> String {
    format!("Your invitation to the {company} client portal")
}

/// The subject of a portal sign-in link.
pub fn portal_sign_in_subject(company: &str) -> String {
    format!("Your sign-in link for the {company} client portal")
}

fn portal_invitation(w: &Words, link: &PortalLink) -> Composed {
    let company = &w.company.name;
    Composed {
        subject: portal_invitation_subject(company),
        text: format!(
            "Hello,\n\n{company} invites you to its client portal, where you can follow \
             your tickets. Open this link to accept the invitation (it works once, for 7 days):\n\n{}\n\nKind regards,\n{company}",
            link.link
        ),
        attachment: None,
    }
}

fn portal_sign_in(w: &Words, link: &PortalLink) -> Composed {
    let company = &w.company.name;
    Composed {
        subject: portal_sign_in_subject(company),
        text: format!(
            "Hello,\n\nopen this link in the browser where you asked for it to sign in to the \
             {company} client portal (it works once, for 15 minutes):\n\n{}\n\n\
             If you did not ask for it, ignore this message.\n\nKind regards,\n{company}",
            link.link
        ),
        attachment: None,
    }
}

/// An invoice with its amounts and due date in the company's locale.
struct InvoiceFacts {
    inv: Invoice,
    total: String,
    balance: String,
    due: String,
}

impl InvoiceFacts {
    async fn load(tx: &mut TenantTx, w: &Words, id: InvoiceId) -> DomainResult<InvoiceFacts> {
        let inv = invoices::get(tx, id).await?;
        Ok(InvoiceFacts {
            total: w.money(inv.total, &inv.currency),
            balance: w.money(inv.balance, &inv.currency),
            due: w.date(inv.due_date),
            inv,
        })
    }
}

async fn invoice_mail(tx: &mut TenantTx, w: &Words, id: InvoiceId) -> DomainResult<Composed> {
    let company = &w.company.name;
    let InvoiceFacts {
        inv, total, due, ..
    } = InvoiceFacts::load(tx, w, id).await?;
    Ok(Composed {
        subject: format!("Invoice {} from {company}", number(&inv)),
        text: format!(
            "Hello,\n\nplease find attached invoice {} for {total}, due on {due}.",
            number(&inv)
        ) + &w.sign_off(),
        attachment: Some(DocRef::Invoice { id }),
    })
}

async fn overdue_reminder(
    tx: &mut TenantTx,
    w: &Words,
    id: InvoiceId,
    reminder: &Reminder,
) -> DomainResult<Composed> {
    let InvoiceFacts {
        inv,
        total,
        balance,
        due,
    } = InvoiceFacts::load(tx, w, id).await?;
    // How late it is now (older messages carry only the offset).
    let ago = match reminder.days_late.unwrap_or(reminder.days) {
        1 => "1 day ago".to_owned(),
        n => format!("{n} days ago"),
    };
    // Reminders go only for invoices mailed before (see `billing::Remind`).
    let sent = reminder
        .first_sent
        .map(|d| format!("We sent it to you on {}; it", w.date(d)))
        .unwrap_or_else(|| "It".to_owned());
    Ok(Composed {
        subject: format!("Reminder: invoice {} is overdue", number(&inv)),
        text: format!(
            "Hello,\n\nour records show that invoice {} was due on {due}, {ago}, \
             and {balance} of {total} is still open. {sent} is attached again. \
             If you have paid it meanwhile, please disregard this reminder.",
            number(&inv)
        ) + &w.sign_off(),
        attachment: Some(DocRef::Invoice { id }),
    })
}

async fn quote_mail(tx: &mut TenantTx, w: &Words, id: QuoteId) -> DomainResult<Composed> {
    let company = &w.company.name;
    let q = quotes::get(tx, id).await?;
    let no = q.number.clone().unwrap_or_else(|| "(draft)".into());
    Ok(Composed {
        subject: format!("Quote {no} from {company}"),
        text: format!(
            "Hello,\n\nplease find attached our quote {no} for {}, valid until {}.\n\nKind regards,\n{company}",
            w.money(q.total, &q.currency),
            w.date(q.valid_until)
        ),
        attachment: Some(DocRef::Quote { id }),
    })
}

fn statement(w: &Words, client: ClientId, period: &Period) -> Composed {
    let company = &w.company.name;
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
        attachment: Some(DocRef::Statement {
            client,
            period: period.clone(),
        }),
    }
}

async fn payment_receipt(tx: &mut TenantTx, w: &Words, id: PaymentId) -> DomainResult<Composed> {
    let company = &w.company.name;
    let p = payments::get(tx, id).await?;
    let inv = invoices::get(tx, p.invoice_id).await?;
    Ok(Composed {
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
    })
}

fn ticket_acknowledgement(w: &Words, about: &TicketTitle) -> Composed {
    let company = &w.company.name;
    let (no, subj) = (&about.ticket_number, &about.ticket_subject);
    Composed {
        subject: format!("[{no}] {subj}"),
        text: format!(
            "Hello,\n\nwe received your request and opened ticket {no}. \
             Reply to this message to add to it; keep [{no}] in the subject.\n\n{company} support"
        ),
        attachment: None,
    }
}

fn ticket_reply(w: &Words, about: &TicketTitle, body: &str) -> Composed {
    let company = &w.company.name;
    let (no, subj) = (&about.ticket_number, &about.ticket_subject);
    Composed {
        subject: format!("Re: [{no}] {subj}"),
        text: format!("{body}\n\n-- \n{company} support"),
        attachment: None,
    }
}

fn ticket_assigned(about: &TicketTitle, by: &str) -> Composed {
    let (no, subj) = (&about.ticket_number, &about.ticket_subject);
    Composed {
        subject: format!("Ticket {no} assigned to you: {subj}"),
        text: format!("Ticket {no} ({subj}) was assigned to you by {by}."),
        attachment: None,
    }
}

fn ticket_sla(about: &TicketTitle, change: &SlaChange) -> Composed {
    let (no, subj) = (&about.ticket_number, &about.ticket_subject);
    let state = &change.state;
    Composed {
        subject: format!("SLA {state}: ticket {no} {subj}"),
        text: format!(
            "The {} target of ticket {no} ({subj}) is {state}: due {}.",
            change.target,
            change.due_at_text()
        ),
        attachment: None,
    }
}

/// The subject of a status change's mail to watchers: `Ticket [#12-K7QX]
/// is now resolved: Printer jammed`.
pub fn ticket_status_subject(token: &str, status: &str, subject: &str) -> String {
    format!(
        "Ticket {token} is now {}: {subject}",
        status.replace('_', " ")
    )
}

fn ticket_status(w: &Words, about: &TicketTitle, change: &StatusChange) -> Composed {
    let company = &w.company.name;
    let (no, subj) = (&about.ticket_number, &about.ticket_subject);
    let status = change.status.replace('_', " ");
    Composed {
        subject: ticket_status_subject(&format!("[{no}]"), &change.status, subj),
        text: format!(
            "Ticket {no} ({subj}) is now {status}.\n\nYou receive this because you watch the ticket.\n\n-- \n{company} support"
        ),
        attachment: None,
    }
}

fn warranty_expiring(w: &Words, alert: &ExpiringWarranties) -> Composed {
    let company = &w.company.name;
    let client = &alert.client_name;
    let mut lines = String::new();
    for a in &alert.assets {
        let expires = a.warranty_expires.map(|d| w.date(d)).unwrap_or_default();
        let days = a.days_left;
        let mut ids = Vec::new();
        for (key, x) in [("serial", &a.serial), ("hostname", &a.hostname)] {
            if let Some(x) = x {
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
            a.name,
            if days == 1 { "day" } else { "days" }
        ));
    }
    Composed {
        subject: warranty_subject(client, alert.assets.len()),
        text: format!(
            "The warranties of these assets of {client} expire soon:\n{lines}\n\n-- \n{company}"
        ),
        attachment: None,
    }
}

async fn payment_failed(
    tx: &mut TenantTx,
    w: &Words,
    id: InvoiceId,
    failure: &ChargeFailure,
) -> DomainResult<Composed> {
    let inv = invoices::get(tx, id).await?;
    let next = failure
        .next_attempt_on
        .map(|d| format!("We will try again on {}.", w.date(d)))
        .unwrap_or_else(|| {
            "We will not try again automatically; please pay the invoice another way.".into()
        });
    Ok(Composed {
        subject: payment_failed_subject(&inv),
        text: format!(
            "Hello,\n\nthe automatic payment of {} for invoice {} could not be taken: {}.\n{next}{}",
            w.money(inv.balance, &inv.currency),
            number(&inv),
            failure.reason,
            w.sign_off()
        ),
        attachment: None,
    })
}

fn management_report(w: &Words, report: &ManagementReport) -> Composed {
    let company = &w.company.name;
    let period = &report.period_label;
    let mut figures = String::new();
    for k in &report.kpis {
        figures.push_str(&format!("\n  {}: {}", k.label, k.value));
    }
    Composed {
        subject: management_subject(period),
        text: format!(
            "Hello,\n\nattached is the management report of {company} for {period}, with charts.\n{figures}\n\nThe figures by client, product and day are in the reports (GET /api/v1/reports), also as CSV.\n\n-- \n{company}"
        ),
        attachment: None,
    }
}

fn webhook_disabled(
    w: &Words,
    endpoint: WebhookEndpointId,
    disabled: &EndpointDisabled,
) -> Composed {
    let company = &w.company.name;
    let url = &disabled.url;
    Composed {
        subject: format!("Webhook endpoint disabled: {url}"),
        text: format!(
            "The webhook endpoint {url} was disabled: {}.\n\nNo events are sent to it \
             until an administrator enables it again (POST /api/v1/webhooks/endpoints/{endpoint}/enable); \
             the deliveries that failed can then be redelivered.\n\n-- \n{company}",
            disabled.reason.as_deref().unwrap_or("")
        ),
        attachment: None,
    }
}

/// The subject of a failed automatic payment's notice.
pub fn payment_failed_subject(inv: &Invoice) -> String {
    format!("Automatic payment of invoice {} failed", number(inv))
}

/// The subject of a warranty alert about `count` assets of `client`.
pub fn management_subject(period: &str) -> String {
    format!("Management report {period}")
}

/// The subject of a contract's expiry warning.
pub fn contract_expiry_subject(contract: &str, client: &str, days_left: i32) -> String {
    let days = if days_left == 1 { "day" } else { "days" };
    format!("Contract {contract} of {client} ends in {days_left} {days}")
}

fn contract_expiring(w: &Words, alert: &ExpiringContract) -> Composed {
    let company = &w.company.name;
    let (contract, client) = (&alert.contract_name, &alert.client_name);
    let end = alert.end_date.map(|d| w.date(d)).unwrap_or_default();
    Composed {
        subject: contract_expiry_subject(contract, client, alert.days_left),
        text: format!(
            "The contract {contract} of {client} ends on {end}, in {} {}. Renew it, or let \
             it end: its SLA targets, included hours and rate stop applying after that day.\n\n-- \n{company}",
            alert.days_left,
            if alert.days_left == 1 { "day" } else { "days" }
        ),
        attachment: None,
    }
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
    message: Message,
    dedupe_key: String,
) -> DomainResult<NewMessage> {
    let client = match &message {
        Message::Invoice { invoice } | Message::OverdueReminder { invoice, .. } => {
            invoices::get(tx, *invoice).await?.client_id
        }
        Message::Quote { quote } => quotes::get(tx, *quote).await?.client_id,
        Message::Statement { client, .. } => {
            clients::ensure_exists(tx, *client).await?;
            *client
        }
        Message::PaymentReceipt { payment } => payments::get(tx, *payment).await?.client_id,
        other => {
            return Err(DomainError::Internal(format!(
                "{} is not a message about a document",
                other.template().as_str()
            )));
        }
    };
    let recipients = contacts::billing_recipients(tx, client).await?;
    let composed = compose(tx, &message).await?;
    Ok(message.new_message(dedupe_key, recipients, composed.subject))
}
