//! What a message is about and the facts it is written from: one variant
//! per template, each with its fields. A message is stored as its template,
//! its subject (`subject_kind`, `subject_id`) and its other fields as JSON
//! (`params`); [`Message::new_message`] writes those columns and
//! [`Message::read`] reads them back, so nothing else handles `params`.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use nestogy_domain::billing::documents::Period;
use nestogy_domain::kernel::crypto::{SecretKey, open_text, seal_text};
use nestogy_domain::platform::mail::{MailMessage, MailTemplate, NewMessage};
use nestogy_domain::{
    AssetId, ClientId, ContactId, ContractId, DomainError, DomainResult, InvoiceId, PaymentId,
    QuoteId, TenantId, TicketId, WebhookEndpointId,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// A message, typed.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// An invoice, its PDF attached.
    Invoice { invoice: InvoiceId },
    /// A quote, its PDF attached.
    Quote { quote: QuoteId },
    /// A client's statement of account for a period, its PDF attached.
    Statement { client: ClientId, period: Period },
    /// A receipt for a payment.
    PaymentReceipt { payment: PaymentId },
    /// An unpaid invoice past its due date, its PDF attached.
    OverdueReminder {
        invoice: InvoiceId,
        reminder: Reminder,
    },
    /// To a contact: their request was received as a ticket.
    TicketAcknowledgement {
        ticket: TicketId,
        about: TicketTitle,
        thread: Thread,
    },
    /// To a contact: a public reply on their ticket.
    TicketReply {
        ticket: TicketId,
        about: TicketTitle,
        thread: Thread,
        body: String,
        attachments: Vec<Attachment>,
    },
    /// To a tech: a ticket was assigned to them by `by`.
    TicketAssigned {
        ticket: TicketId,
        about: TicketTitle,
        by: String,
    },
    /// To a tech or the admins: a ticket's SLA state changed.
    TicketSla {
        ticket: TicketId,
        about: TicketTitle,
        change: SlaChange,
    },
    /// To a ticket's contact watchers: the ticket's status changed.
    TicketStatus {
        ticket: TicketId,
        about: TicketTitle,
        change: StatusChange,
    },
    /// To the techs and admins: warranties of a client's assets expire soon.
    WarrantyExpiring {
        client: ClientId,
        alert: ExpiringWarranties,
    },
    /// To the client's billing contacts (or the admins): an automatic
    /// charge of an invoice failed.
    PaymentFailed {
        invoice: InvoiceId,
        failure: ChargeFailure,
    },
    /// To the admins: a webhook endpoint was disabled after sustained
    /// failure.
    WebhookDisabled {
        endpoint: WebhookEndpointId,
        disabled: EndpointDisabled,
    },
    /// To the finance list: the monthly management report, its PDF
    /// attached.
    ManagementReport { report: ManagementReport },
    /// To a contact: an invitation to the client portal.
    PortalInvitation {
        contact: ContactId,
        link: PortalLink,
    },
    /// To a contact: a one-time sign-in link to the client portal.
    PortalSignIn {
        contact: ContactId,
        link: PortalLink,
    },
    /// To the admins: a contract ends soon.
    ContractExpiring {
        contract: ContractId,
        alert: ExpiringContract,
    },
}

/// A one-time link to the client portal and when it stops working. The
/// link signs a contact in, so it is stored sealed
/// ([`nestogy_domain::kernel::crypto::seal_text`]) and opened only to be
/// written ([`Message::opened`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PortalLink {
    pub link: String,
    pub expires_at: Option<DateTime<Utc>>,
}

impl PortalLink {
    /// The link to store: `url` sealed under `key` for `tenant`.
    pub fn sealed(
        url: &str,
        expires_at: DateTime<Utc>,
        tenant: TenantId,
        key: Option<&SecretKey>,
    ) -> PortalLink {
        PortalLink {
            link: seal_text(key, tenant, url),
            expires_at: Some(expires_at),
        }
    }
}

/// An overdue reminder's facts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Reminder {
    /// The reminder offset reached (one of the company's reminder days).
    pub days: i32,
    /// How late the invoice is, in days since its due date; `None` in
    /// older messages, which carry only the offset.
    pub days_late: Option<i32>,
    /// When the invoice was first mailed to the client.
    pub first_sent: Option<NaiveDate>,
}

/// A ticket as its messages name it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TicketTitle {
    /// The ticket's token without brackets.
    pub ticket_number: String,
    pub ticket_subject: String,
}

/// How a message threads: `in_reply_to`, `references` (oldest first) and
/// `reply_to` (where answers go: a support mailbox).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Thread {
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    pub reply_to: Option<String>,
}

/// A file sent with a message, in the object store.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Attachment {
    pub filename: String,
    pub content_type: String,
    /// Bytes; given for the files a person attached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
    pub key: String,
}

/// An SLA target's new state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SlaChange {
    pub target: String,
    pub state: String,
    pub due_at: Option<DateTime<Utc>>,
}

/// A ticket's new status.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StatusChange {
    pub status: String,
}

/// A client's assets whose warranties expire soon.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExpiringWarranties {
    pub client_name: String,
    pub assets: Vec<ExpiringAsset>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpiringAsset {
    pub asset_id: AssetId,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub serial: Option<String>,
    #[serde(default)]
    pub hostname: Option<String>,
    #[serde(default)]
    pub threshold_days: i32,
    #[serde(default)]
    pub warranty_expires: Option<NaiveDate>,
    #[serde(default)]
    pub days_left: i32,
}

/// A contract that ends soon.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExpiringContract {
    pub contract_name: String,
    pub client_name: String,
    pub end_date: Option<NaiveDate>,
    /// The threshold reached (30 or 7 days before the end).
    pub threshold_days: i32,
    pub days_left: i32,
}

/// Why an automatic charge failed, and when it is tried again.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChargeFailure {
    pub reason: String,
    pub next_attempt_on: Option<NaiveDate>,
    pub attempt: i32,
}

/// The endpoint disabled, and why.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EndpointDisabled {
    pub url: String,
    pub reason: Option<String>,
}

/// A management report's month, headline figures and PDF.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ManagementReport {
    /// The report's month (its first day).
    pub period: Option<NaiveDate>,
    pub period_label: String,
    pub kpis: Vec<Kpi>,
    pub attachments: Vec<Attachment>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Kpi {
    pub label: String,
    pub value: String,
}

/// A statement's params.
#[derive(Serialize, Deserialize)]
struct StatementParams {
    period: Period,
}

impl Message {
    pub fn template(&self) -> MailTemplate {
        match self {
            Message::Invoice { .. } => MailTemplate::Invoice,
            Message::Quote { .. } => MailTemplate::Quote,
            Message::Statement { .. } => MailTemplate::Statement,
            Message::PaymentReceipt { .. } => MailTemplate::PaymentReceipt,
            Message::OverdueReminder { .. } => MailTemplate::OverdueReminder,
            Message::TicketAcknowledgement { .. } => MailTemplate::TicketAcknowledgement,
            Message::TicketReply { .. } => MailTemplate::TicketReply,
            Message::TicketAssigned { .. } => MailTemplate::TicketAssigned,
            Message::TicketSla { .. } => MailTemplate::TicketSla,
            Message::TicketStatus { .. } => MailTemplate::TicketStatus,
            Message::WarrantyExpiring { .. } => MailTemplate::WarrantyExpiring,
            Message::PaymentFailed { .. } => MailTemplate::PaymentFailed,
            Message::WebhookDisabled { .. } => MailTemplate::WebhookDisabled,
            Message::ManagementReport { .. } => MailTemplate::ManagementReport,
            Message::PortalInvitation { .. } => MailTemplate::PortalInvitation,
            Message::PortalSignIn { .. } => MailTemplate::PortalSignIn,
            Message::ContractExpiring { .. } => MailTemplate::ContractExpiring,
        }
    }

    /// What the message is about: `subject_kind` and `subject_id`.
    pub fn subject(&self) -> Option<(&'static str, Uuid)> {
        Some(match self {
            Message::Invoice { invoice }
            | Message::OverdueReminder { invoice, .. }
            | Message::PaymentFailed { invoice, .. } => ("invoice", invoice.as_uuid()),
            Message::Quote { quote } => ("quote", quote.as_uuid()),
            Message::Statement { client, .. } | Message::WarrantyExpiring { client, .. } => {
                ("client", client.as_uuid())
            }
            Message::PaymentReceipt { payment } => ("payment", payment.as_uuid()),
            Message::TicketAcknowledgement { ticket, .. }
            | Message::TicketReply { ticket, .. }
            | Message::TicketAssigned { ticket, .. }
            | Message::TicketSla { ticket, .. }
            | Message::TicketStatus { ticket, .. } => ("ticket", ticket.as_uuid()),
            Message::WebhookDisabled { endpoint, .. } => ("webhook_endpoint", endpoint.as_uuid()),
            Message::PortalInvitation { contact, .. } | Message::PortalSignIn { contact, .. } => {
                ("contact", contact.as_uuid())
            }
            Message::ContractExpiring { contract, .. } => ("contract", contract.as_uuid()),
            Message::ManagementReport { .. } => return None,
        })
    }

    /// The RFC 3834 `Auto-Submitted` of a message no person wrote.
    pub fn auto_submitted(&self) -> Option<&'static str> {
        match self {
            Message::TicketAcknowledgement { .. } => Some("auto-replied"),
            Message::TicketAssigned { .. }
            | Message::TicketSla { .. }
            | Message::TicketStatus { .. }
            | Message::WarrantyExpiring { .. }
            | Message::ContractExpiring { .. }
            | Message::WebhookDisabled { .. }
            | Message::ManagementReport { .. }
            | Message::PortalSignIn { .. } => Some("auto-generated"),
            _ => None,
        }
    }

    /// Whether it goes out with a null envelope sender (`MAIL FROM:<>`):
    /// an automatic answer, so nothing it causes can come back to us.
    pub fn null_sender(&self) -> bool {
        matches!(self, Message::TicketAcknowledgement { .. })
    }

    pub fn thread(&self) -> Option<&Thread> {
        match self {
            Message::TicketAcknowledgement { thread, .. } | Message::TicketReply { thread, .. } => {
                Some(thread)
            }
            _ => None,
        }
    }

    /// Files kept in the object store that go with the message.
    pub fn attachments(&self) -> &[Attachment] {
        match self {
            Message::TicketReply { attachments, .. }
            | Message::ManagementReport {
                report: ManagementReport { attachments, .. },
            } => attachments,
            _ => &[],
        }
    }

    /// The message with its sealed parts (a portal link) opened, to be
    /// written.
    pub fn opened(self, tenant: TenantId, key: Option<&SecretKey>) -> DomainResult<Message> {
        let open = |l: PortalLink| -> DomainResult<PortalLink> {
            Ok(PortalLink {
                link: open_text(key, tenant, &l.link, "portal link")?,
                ..l
            })
        };
        Ok(match self {
            Message::PortalInvitation { contact, link } => Message::PortalInvitation {
                contact,
                link: open(link)?,
            },
            Message::PortalSignIn { contact, link } => Message::PortalSignIn {
                contact,
                link: open(link)?,
            },
            m => m,
        })
    }

    /// The message's fields other than its subject, as stored in `params`.
    pub fn params(&self) -> Value {
        let mut params = match self {
            Message::Invoice { .. } | Message::Quote { .. } | Message::PaymentReceipt { .. } => {
                Value::Object(Default::default())
            }
            Message::Statement { period, .. } => json(&StatementParams {
                period: period.clone(),
            }),
            Message::OverdueReminder { reminder, .. } => json(reminder),
            Message::TicketAcknowledgement { about, thread, .. } => {
                merged([json(about), json(thread)])
            }
            Message::TicketReply {
                about,
                thread,
                body,
                attachments,
                ..
            } => merged([
                json(about),
                json(thread),
                serde_json::json!({ "body": body, "attachments": attachments }),
            ]),
            Message::TicketAssigned { about, by, .. } => {
                merged([json(about), serde_json::json!({ "by": by })])
            }
            Message::TicketSla { about, change, .. } => merged([json(about), json(change)]),
            Message::TicketStatus { about, change, .. } => merged([json(about), json(change)]),
            Message::WarrantyExpiring { alert, .. } => json(alert),
            Message::ContractExpiring { alert, .. } => json(alert),
            Message::PaymentFailed { failure, .. } => json(failure),
            Message::WebhookDisabled { disabled, .. } => json(disabled),
            Message::ManagementReport { report } => json(report),
            Message::PortalInvitation { link, .. } | Message::PortalSignIn { link, .. } => {
                json(link)
            }
        };
        if let Value::Object(map) = &mut params {
            if let Some(a) = self.auto_submitted() {
                map.insert("auto_submitted".into(), a.into());
            }
            if self.null_sender() {
                map.insert("null_sender".into(), true.into());
            }
        }
        params
    }

    /// The message to create: once per `dedupe_key`, to `recipients`,
    /// under the subject line `subject`.
    pub fn new_message(
        &self,
        dedupe_key: String,
        recipients: Vec<String>,
        subject: String,
    ) -> NewMessage {
        let about = self.subject();
        NewMessage {
            dedupe_key,
            template: self.template(),
            subject_kind: about.map(|(kind, _)| kind),
            subject_id: about.map(|(_, id)| id),
            params: self.params(),
            recipients,
            subject,
        }
    }

    /// The message a stored one is. Fields missing from older messages read
    /// as empty.
    pub fn read(msg: &MailMessage) -> DomainResult<Message> {
        Message::from_parts(msg.template, msg.subject_id, &msg.params)
    }

    pub fn from_parts(
        template: MailTemplate,
        subject_id: Option<Uuid>,
        params: &Value,
    ) -> DomainResult<Message> {
        let id =
            || subject_id.ok_or_else(|| DomainError::Internal("message has no subject id".into()));
        let f = Fields { params, template };
        Ok(match template {
            MailTemplate::Invoice => Message::Invoice {
                invoice: InvoiceId(id()?),
            },
            MailTemplate::Quote => Message::Quote {
                quote: QuoteId(id()?),
            },
            MailTemplate::Statement => {
                let s: StatementParams = f.get().map_err(|e| {
                    DomainError::Internal(format!("statement message without a period: {e}"))
                })?;
                Message::Statement {
                    client: ClientId(id()?),
                    period: s.period,
                }
            }
            MailTemplate::PaymentReceipt => Message::PaymentReceipt {
                payment: PaymentId(id()?),
            },
            MailTemplate::OverdueReminder => Message::OverdueReminder {
                invoice: InvoiceId(id()?),
                reminder: f.get()?,
            },
            MailTemplate::TicketAcknowledgement => Message::TicketAcknowledgement {
                ticket: TicketId(id()?),
                about: f.get()?,
                thread: f.get()?,
            },
            MailTemplate::TicketReply => {
                #[derive(Deserialize, Default)]
                #[serde(default)]
                struct Rest {
                    body: String,
                    attachments: Vec<Attachment>,
                }
                let rest: Rest = f.get()?;
                Message::TicketReply {
                    ticket: TicketId(id()?),
                    about: f.get()?,
                    thread: f.get()?,
                    body: rest.body,
                    attachments: rest.attachments,
                }
            }
            MailTemplate::TicketAssigned => {
                #[derive(Deserialize, Default)]
                #[serde(default)]
                struct By {
                    by: String,
                }
                Message::TicketAssigned {
                    ticket: TicketId(id()?),
                    about: f.get()?,
                    by: f.get::<By>()?.by,
                }
            }
            MailTemplate::TicketSla => Message::TicketSla {
                ticket: TicketId(id()?),
                about: f.get()?,
                change: f.get()?,
            },
            MailTemplate::TicketStatus => Message::TicketStatus {
                ticket: TicketId(id()?),
                about: f.get()?,
                change: f.get()?,
            },
            MailTemplate::WarrantyExpiring => Message::WarrantyExpiring {
                client: ClientId(id()?),
                alert: f.get()?,
            },
            MailTemplate::PaymentFailed => Message::PaymentFailed {
                invoice: InvoiceId(id()?),
                failure: f.get()?,
            },
            MailTemplate::WebhookDisabled => Message::WebhookDisabled {
                endpoint: WebhookEndpointId(id()?),
                disabled: f.get()?,
            },
            MailTemplate::ManagementReport => Message::ManagementReport { report: f.get()? },
            MailTemplate::PortalInvitation => Message::PortalInvitation {
                contact: ContactId(id()?),
                link: f.get()?,
            },
            MailTemplate::PortalSignIn => Message::PortalSignIn {
                contact: ContactId(id()?),
                link: f.get()?,
            },
            MailTemplate::ContractExpiring => Message::ContractExpiring {
                contract: ContractId(id()?),
                alert: f.get()?,
            },
        })
    }
}

impl SlaChange {
    /// `due_at` as stored, or empty.
    pub fn due_at_text(&self) -> String {
        self.due_at
            .map(|d| d.to_rfc3339_opts(SecondsFormat::AutoSi, true))
            .unwrap_or_default()
    }
}

/// A message's params, read as one of its parts.
struct Fields<'a> {
    params: &'a Value,
    template: MailTemplate,
}

impl Fields<'_> {
    fn get<T: DeserializeOwned>(&self) -> DomainResult<T> {
        T::deserialize(self.params).map_err(|e| {
            DomainError::Internal(format!(
                "the params of a {} message: {e}",
                self.template.as_str()
            ))
        })
    }
}

fn json<T: Serialize>(part: &T) -> Value {
    serde_json::to_value(part).unwrap_or_default()
}

/// One object of the fields of `parts`.
fn merged<const N: usize>(parts: [Value; N]) -> Value {
    let mut out = serde_json::Map::new();
    for part in parts {
        if let Value::Object(m) = part {
            out.extend(m);
        }
    }
    Value::Object(out)
}
