//! What each kind of message says: the facts of a message as placeholder
//! values, written into the company's text for its kind (its own, or the
//! built-in one in its language; see `nestogy_domain::integrations::mail_texts`).
//! Subjects are fixed when a message is created ([`new_message`]); bodies
//! are written when it is delivered, from the data as it is then. Amounts
//! and dates follow the company's locale.

use std::collections::HashMap;

use nestogy_domain::billing::documents::{DocRef, Period};
use nestogy_domain::billing::invoices::{self, Invoice};
use nestogy_domain::billing::locale::{self, Locale};
use nestogy_domain::identity::company::{self, Company};
use nestogy_domain::integrations::mail_texts::{self, Language};
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

/// A message's placeholder values.
type Values = HashMap<&'static str, String>;

/// What values are written with: the company, its locale and the language
/// of its texts.
struct Facts {
    company: Company,
    locale: Locale,
    lang: Language,
    values: Values,
}

impl Facts {
    fn money(&self, x: Decimal, currency: &str) -> String {
        let minor = money::minor_units(currency).unwrap_or(2);
        locale::format_money(money::to_minor(x, minor), currency, self.locale)
    }
    fn date(&self, d: chrono::NaiveDate) -> String {
        locale::format_date(d, self.locale)
    }
    fn time(&self, t: Option<chrono::DateTime<chrono::Utc>>) -> String {
        t.map(|t| format!("{} {} UTC", self.date(t.date_naive()), t.format("%H:%M")))
            .unwrap_or_default()
    }
    fn set(&mut self, name: &'static str, value: impl Into<String>) {
        self.values.insert(name, value.into());
    }
    fn say(&self, en: String, de: String, fr: String) -> String {
        match self.lang {
            Language::En => en,
            Language::De => de,
            Language::Fr => fr,
        }
    }
    fn company_values(&mut self) {
        let name = self.company.name.clone();
        let how = match &self.company.branding.payment_instructions {
            Some(p) if !p.trim().is_empty() => {
                let heading = self.say(
                    "How to pay:".into(),
                    "Zahlungshinweise:".into(),
                    "Modalités de paiement :".into(),
                );
                format!("\n\n{heading}\n{p}")
            }
            _ => String::new(),
        };
        self.set("company.name", name);
        self.set("company.payment_instructions", how);
    }
    /// A word the platform stores in English (a status, an SLA target or
    /// state), in the company's language.
    fn word(&self, w: &str) -> String {
        let w = w.replace('_', " ");
        let (de, fr) = match w.as_str() {
            "open" => ("offen", "ouvert"),
            "new" => ("neu", "nouveau"),
            "in progress" => ("in Bearbeitung", "en cours"),
            "waiting on client" => ("wartet auf Kunden", "en attente du client"),
            "resolved" => ("gelöst", "résolu"),
            "closed" => ("geschlossen", "fermé"),
            "warning" => ("gefährdet", "menacé"),
            "breached" => ("verletzt", "dépassé"),
            "first response" => ("Erste Antwort", "première réponse"),
            "resolution" => ("Lösung", "résolution"),
            _ => return w,
        };
        self.say(w.clone(), de.to_owned(), fr.to_owned())
    }
}

/// `n` and its noun: `1 day`, `2 days`.
fn plural(n: i64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn number(inv: &Invoice) -> &str {
    inv.number.as_deref().unwrap_or("(draft)")
}

/// Writes `message`.
pub async fn compose(tx: &mut TenantTx, message: &Message) -> DomainResult<Composed> {
    let company = company::get(tx).await?;
    let locale = Locale::parse(&company.locale);
    let lang = Language::of(locale);
    let words = mail_texts::words(tx, message.template(), locale).await?;
    let mut f = Facts {
        company,
        locale,
        lang,
        values: Values::new(),
    };
    f.company_values();
    let attachment = match message {
        Message::Invoice { invoice } => {
            invoice_values(tx, &mut f, *invoice).await?;
            Some(DocRef::Invoice { id: *invoice })
        }
        Message::OverdueReminder { invoice, reminder } => {
            invoice_values(tx, &mut f, *invoice).await?;
            reminder_values(&mut f, reminder);
            Some(DocRef::Invoice { id: *invoice })
        }
        Message::Quote { quote } => {
            quote_values(tx, &mut f, *quote).await?;
            Some(DocRef::Quote { id: *quote })
        }
        Message::Statement { client, period } => {
            statement_values(tx, &mut f, *client, period).await?;
            Some(DocRef::Statement {
                client: *client,
                period: period.clone(),
            })
        }
        Message::PaymentReceipt { payment } => {
            receipt_values(tx, &mut f, *payment).await?;
            None
        }
        Message::TicketAcknowledgement { about, .. } => {
            ticket_values(&mut f, about);
            None
        }
        Message::TicketReply { about, body, .. } => {
            ticket_values(&mut f, about);
            f.set("reply.body", body.clone());
            None
        }
        Message::TicketAssigned { about, by, .. } => {
            ticket_values(&mut f, about);
            f.set("assigned_by", by.clone());
            None
        }
        Message::TicketSla { about, change, .. } => {
            ticket_values(&mut f, about);
            sla_values(&mut f, change);
            None
        }
        Message::TicketStatus { about, change, .. } => {
            ticket_values(&mut f, about);
            status_values(&mut f, change);
            None
        }
        Message::WarrantyExpiring { alert, .. } => {
            warranty_values(&mut f, alert);
            None
        }
        Message::PaymentFailed { invoice, failure } => {
            invoice_values(tx, &mut f, *invoice).await?;
            failure_values(&mut f, failure);
            None
        }
        Message::ManagementReport { report } => {
            report_values(&mut f, report);
            None
        }
        Message::WebhookDisabled { endpoint, disabled } => {
            webhook_values(&mut f, *endpoint, disabled);
            None
        }
        Message::PortalInvitation { link, .. } | Message::PortalSignIn { link, .. } => {
            portal_values(&mut f, link);
            None
        }
        Message::ContractExpiring { alert, .. } => {
            contract_values(&mut f, alert);
            None
        }
    };
    let (subject, text) = words.fill(&f.values);
    Ok(Composed {
        subject,
        text,
        attachment,
    })
}

/// `message` to `recipients`, once per `dedupe_key`, with its subject
/// written now from the company's text.
pub async fn new_message(
    tx: &mut TenantTx,
    message: &Message,
    dedupe_key: String,
    recipients: Vec<String>,
) -> DomainResult<NewMessage> {
    let subject = compose(tx, message).await?.subject;
    Ok(message.new_message(dedupe_key, recipients, subject))
}

async fn client_name(tx: &mut TenantTx, f: &mut Facts, client: ClientId) -> DomainResult<()> {
    let name = clients::get(tx, client).await?.name;
    f.set("client.name", name);
    Ok(())
}

async fn invoice_values(tx: &mut TenantTx, f: &mut Facts, id: InvoiceId) -> DomainResult<()> {
    let inv = invoices::get(tx, id).await?;
    f.set("invoice.number", number(&inv));
    f.set("invoice.total", f.money(inv.total, &inv.currency));
    f.set("invoice.balance", f.money(inv.balance, &inv.currency));
    f.set("invoice.due_date", f.date(inv.due_date));
    client_name(tx, f, inv.client_id).await
}

fn reminder_values(f: &mut Facts, reminder: &Reminder) {
    // How late it is now (older messages carry only the offset).
    let late = reminder.days_late.unwrap_or(reminder.days);
    let n = i64::from(late);
    let ago = f.say(
        plural(n, "day ago", "days ago"),
        format!("vor {}", plural(n, "Tag", "Tagen")),
        format!("il y a {}", plural(n, "jour", "jours")),
    );
    // Reminders go only for invoices mailed before (see `billing::Remind`).
    let sent = match reminder.first_sent.map(|d| f.date(d)) {
        Some(d) => f.say(
            format!("We sent it to you on {d}; it is attached again."),
            format!("Wir haben sie Ihnen am {d} gesendet; sie liegt erneut bei."),
            format!("Nous vous l'avons envoyée le {d} ; elle est de nouveau jointe."),
        ),
        None => f.say(
            "It is attached again.".into(),
            "Sie liegt erneut bei.".into(),
            "Elle est de nouveau jointe.".into(),
        ),
    };
    f.set("invoice.days_late", late.to_string());
    f.set("invoice.due_ago", ago);
    f.set("reminder.sent_note", sent);
}

async fn quote_values(tx: &mut TenantTx, f: &mut Facts, id: QuoteId) -> DomainResult<()> {
    let q = quotes::get(tx, id).await?;
    f.set(
        "quote.number",
        q.number.clone().unwrap_or_else(|| "(draft)".into()),
    );
    f.set("quote.total", f.money(q.total, &q.currency));
    f.set("quote.valid_until", f.date(q.valid_until));
    client_name(tx, f, q.client_id).await
}

async fn statement_values(
    tx: &mut TenantTx,
    f: &mut Facts,
    client: ClientId,
    period: &Period,
) -> DomainResult<()> {
    f.set("statement.from", f.date(period.from));
    f.set("statement.to", f.date(period.to));
    f.set("statement.currency", period.currency.clone());
    client_name(tx, f, client).await
}

async fn receipt_values(tx: &mut TenantTx, f: &mut Facts, id: PaymentId) -> DomainResult<()> {
    let p = payments::get(tx, id).await?;
    let inv = invoices::get(tx, p.invoice_id).await?;
    f.set("payment.amount", f.money(p.amount, &p.currency));
    f.set("payment.date", f.date(p.paid_on));
    f.set("invoice.number", number(&inv));
    f.set("invoice.balance", f.money(inv.balance, &inv.currency));
    client_name(tx, f, inv.client_id).await
}

fn ticket_values(f: &mut Facts, about: &TicketTitle) {
    f.set("ticket.number", about.ticket_number.clone());
    f.set("ticket.subject", about.ticket_subject.clone());
}

fn sla_values(f: &mut Facts, change: &SlaChange) {
    f.set("sla.target", f.word(&change.target));
    f.set("sla.state", f.word(&change.state));
    f.set("sla.due_at", change.due_at_text());
}

fn status_values(f: &mut Facts, change: &StatusChange) {
    f.set("ticket.status", f.word(&change.status));
}

fn warranty_values(f: &mut Facts, alert: &ExpiringWarranties) {
    let mut lines = Vec::new();
    for a in &alert.assets {
        let expires = a.warranty_expires.map(|d| f.date(d)).unwrap_or_default();
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
        let (name, n) = (&a.name, i64::from(a.days_left));
        let line = f.say(
            format!(
                "- {name}{ids}: expires {expires}, in {}",
                plural(n, "day", "days")
            ),
            format!(
                "- {name}{ids}: läuft am {expires} ab, in {}",
                plural(n, "Tag", "Tagen")
            ),
            format!(
                "- {name}{ids} : expire le {expires}, dans {}",
                plural(n, "jour", "jours")
            ),
        );
        lines.push(line);
    }
    let n = i64::try_from(alert.assets.len()).unwrap_or(i64::MAX);
    let count = f.say(
        plural(n, "asset", "assets"),
        plural(n, "Gerät", "Geräte"),
        plural(n, "équipement", "équipements"),
    );
    f.set("client.name", alert.client_name.clone());
    f.set("assets.count", count);
    f.set("assets.list", lines.join("\n"));
}

fn failure_values(f: &mut Facts, failure: &ChargeFailure) {
    let next = match failure.next_attempt_on.map(|d| f.date(d)) {
        Some(d) => f.say(
            format!("We will try again on {d}."),
            format!("Wir versuchen es am {d} erneut."),
            format!("Nous réessaierons le {d}."),
        ),
        None => f.say(
            "We will not try again automatically; please pay the invoice another way.".into(),
            "Wir versuchen es nicht automatisch erneut; bitte bezahlen Sie die Rechnung auf anderem Weg.".into(),
            "Nous ne réessaierons pas automatiquement ; merci de régler la facture autrement.".into(),
        ),
    };
    f.set("failure.reason", failure.reason.clone());
    f.set("failure.next_step", next);
}

fn report_values(f: &mut Facts, report: &ManagementReport) {
    let mut figures = String::new();
    for k in &report.kpis {
        figures.push_str(&format!("\n  {}: {}", k.label, k.value));
    }
    f.set("report.period", report.period_label.clone());
    f.set("report.figures", figures);
}

fn webhook_values(f: &mut Facts, endpoint: WebhookEndpointId, disabled: &EndpointDisabled) {
    f.set("webhook.url", disabled.url.clone());
    f.set(
        "webhook.reason",
        disabled.reason.clone().unwrap_or_default(),
    );
    f.set("webhook.endpoint_id", endpoint.to_string());
}

fn portal_values(f: &mut Facts, link: &PortalLink) {
    f.set("portal.link", link.link.clone());
    f.set("portal.expires_at", f.time(link.expires_at));
}

fn contract_values(f: &mut Facts, alert: &ExpiringContract) {
    let n = i64::from(alert.days_left);
    let ends_in = f.say(
        format!("in {}", plural(n, "day", "days")),
        format!("in {}", plural(n, "Tag", "Tagen")),
        format!("dans {}", plural(n, "jour", "jours")),
    );
    f.set("contract.name", alert.contract_name.clone());
    f.set("client.name", alert.client_name.clone());
    f.set(
        "contract.end_date",
        alert.end_date.map(|d| f.date(d)).unwrap_or_default(),
    );
    f.set("contract.days_left", alert.days_left.to_string());
    f.set("contract.ends_in", ends_in);
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
    new_message(tx, &message, dedupe_key, recipients).await
}
