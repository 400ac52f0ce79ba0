//! What one incoming message becomes: a new ticket, a reply on a ticket, or
//! a quarantine entry with its reason. Exactly one of the three, once per
//! (mailbox, content hash), in the transaction that moves the checkpoint.
//!
//! Threading, first match wins: our own outbound Message-IDs (the mail
//! registry) in In-Reply-To and References; then the Message-IDs of
//! messages already on a ticket; then a subject token `[#n-CODE]` of a
//! ticket of this tenant. A bounce is threaded by the headers of the
//! message it returns. Mail threaded to a merged ticket lands on the ticket
//! it was merged into (following chains).
//!
//! Automated mail ([`crate::inbound::robots`]) is recorded but never
//! answered and never reopens a ticket. Threading nowhere, a bounce
//! (delivery report, antivirus notice, null sender) is quarantined; an
//! out-of-office, bulk, list or no-reply message, or an automatic answer
//! coming back, is ignored: recorded with its reason and no ticket, unless
//! the mailbox accepts automated mail (then a ticket tagged `automated`).
//! Automatic notices (`Auto-Submitted: auto-generated`, monitoring) open a
//! ticket, never answered. Mail from our own addresses is quarantined, so
//! two systems can never answer each other in a loop.
//!
//! The Cc addresses of a person's message that are contacts of the ticket's
//! client become the ticket's watchers (not our own addresses, not the
//! ticket's own contact, each once).
//!
//! An acknowledgement goes the way RFC 3834 asks: to the Return-Path
//! address (else the From), never to `Reply-To`, with a null envelope
//! sender (`MAIL FROM:<>`, so nothing can bounce back to us), `Auto-Submitted:
//! auto-replied`, at most `ack_limit` per address an hour, and with a
//! subject that decoded cleanly (else the ticket's token and number).

use chrono::Duration;
use nestogy_domain::kernel::files::Files;
use nestogy_domain::platform::mail;
use nestogy_domain::service_desk::inbound::{self, Arrival, Outcome};
use nestogy_domain::service_desk::mailboxes::{
    AutomatedMail, ClosedReplies, Mailbox, UnknownSenders,
};
use nestogy_domain::service_desk::threading;
use nestogy_domain::service_desk::ticket_watchers;
use nestogy_domain::service_desk::tickets::{
    self, MessageKind, NewMessageRecord, Priority, Ticket, TicketDraft, TicketSource, TicketStatus,
};
use std::collections::HashMap;

use nestogy_domain::{
    ClientId, ContactId, DomainError, DomainResult, InboundId, MailId, TenantTx, TicketId,
    customers::clients, customers::contacts,
};

use crate::inbound::parse::{self, Automated, Limits, ParsedMail};
use crate::mail::compose;
use crate::mail::message::{Message, Thread, TicketTitle};

/// The window the company's acknowledgement limit per sender counts in
/// (`settings.acknowledgements_per_sender_hour`, default 5).
pub const ACK_WINDOW: Duration = Duration::hours(1);

/// Where ingestion runs: the mailbox and what it needs around it.
pub struct Env<'a> {
    pub mailbox: &'a Mailbox,
    /// Our own addresses, lowercased.
    pub own: &'a [String],
    pub files: &'a Files,
    /// The domain of our outbound Message-IDs.
    pub mail_domain: &'a str,
    /// Acknowledgements one sender gets per [`ACK_WINDOW`].
    pub ack_limit: i64,
    /// Open tickets from ignorable automated mail whatever the mailbox
    /// says: a person reprocessing an ignored message asked for it.
    pub accept_automated: bool,
}

/// Senders of a batch resolved in two queries instead of two per message.
/// Empty (the default), every lookup goes to the database.
#[derive(Debug, Default)]
pub struct Senders {
    loaded: bool,
    contacts: HashMap<String, (ContactId, ClientId)>,
    domains: HashMap<String, Option<ClientId>>,
}

impl Senders {
    pub async fn load(
        tx: &mut TenantTx,
        parsed: impl Iterator<Item = &Result<ParsedMail, parse::ParseError>>,
    ) -> DomainResult<Senders> {
        let mut emails: Vec<String> = Vec::new();
        let mut domains: Vec<String> = Vec::new();
        for p in parsed.filter_map(|p| p.as_ref().ok()) {
            if let Some(f) = &p.from {
                emails.push(f.email.clone());
                domains.push(domain_of(&f.email).to_owned());
            }
        }
        emails.sort();
        emails.dedup();
        domains.sort();
        domains.dedup();
        Ok(Senders {
            loaded: true,
            contacts: contacts::by_emails(tx, &emails).await?,
            domains: clients::by_email_domains(tx, &domains).await?,
        })
    }

    /// (contact, client) of a sender: its contact, else the client of its
    /// domain.
    async fn resolve(
        &self,
        tx: &mut TenantTx,
        email: &str,
    ) -> DomainResult<(Option<ContactId>, Option<ClientId>)> {
        let domain = domain_of(email);
        if self.loaded && self.domains.contains_key(domain) {
            return Ok(match self.contacts.get(email) {
                Some((k, c)) => (Some(*k), Some(*c)),
                None => (None, self.domains.get(domain).copied().flatten()),
            });
        }
        Ok(match contacts::by_email(tx, email).await? {
            Some((contact, client)) => (Some(contact), Some(client)),
            None => (None, clients::by_email_domain(tx, domain).await?),
        })
    }
}

fn domain_of(email: &str) -> &str {
    email.rsplit('@').next().unwrap_or_default()
}

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Processed {
    pub inbound: InboundId,
    pub outcome: Outcome,
    pub ticket: Option<TicketId>,
    pub reason: Option<String>,
    /// Mail to dispatch once the transaction has committed.
    pub mails: Vec<MailId>,
}

/// The object-store key of a raw message: named by its content, so storing
/// it again (a retried poll) writes the same object.
pub fn raw_key(tenant: nestogy_domain::TenantId, mailbox: &Mailbox, hash: &str) -> String {
    Files::key(tenant, &format!("mail/{}/{hash}.eml", mailbox.id))
}

/// What is known of a raw message before it is processed; parsing happens
/// here once and is handed on.
pub fn arrive(
    tenant: nestogy_domain::TenantId,
    mailbox: &Mailbox,
    uidvalidity: u32,
    uid: u32,
    raw: &[u8],
) -> (Arrival, Result<ParsedMail, parse::ParseError>) {
    let parsed = parse::parse(raw, &Limits::default());
    let hash = match &parsed {
        Ok(p) => p.content_hash.clone(),
        Err(_) => parse::content_hash(raw),
    };
    let (message_id, from, subject) = match &parsed {
        Ok(p) => (
            p.message_id.clone(),
            p.from.as_ref().map(|a| a.email.clone()),
            Some(nestogy_domain::kernel::text::truncate_chars(
                &p.subject, 500,
            )),
        ),
        Err(_) => (None, None, None),
    };
    let arrival = Arrival {
        mailbox_id: mailbox.id,
        uidvalidity: i64::from(uidvalidity),
        uid: i64::from(uid),
        message_id,
        raw_key: raw_key(tenant, mailbox, &hash),
        content_hash: hash,
        size_bytes: raw.len() as i64,
        from_address: from,
        subject,
    };
    (arrival, parsed)
}

/// Claims and processes one message in `tx`; `None` for a duplicate.
pub async fn ingest(
    tx: &mut TenantTx,
    env: &Env<'_>,
    senders: &Senders,
    arrival: &Arrival,
    parsed: &Result<ParsedMail, parse::ParseError>,
) -> DomainResult<Option<Processed>> {
    let Some(id) = inbound::claim(tx, arrival).await? else {
        return Ok(None);
    };
    process(tx, env, senders, id, parsed).await.map(Some)
}

/// Decides and applies what a claimed message becomes, and records it.
pub async fn process(
    tx: &mut TenantTx,
    env: &Env<'_>,
    senders: &Senders,
    id: InboundId,
    parsed: &Result<ParsedMail, parse::ParseError>,
) -> DomainResult<Processed> {
    let decided = decide(tx, env, senders, id, parsed).await?;
    let automated = parsed
        .as_ref()
        .ok()
        .and_then(|p| p.automated)
        .map(Automated::as_str);
    inbound::settle(
        tx,
        id,
        decided.outcome,
        decided.ticket,
        decided.reason.as_deref(),
        automated,
    )
    .await?;
    Ok(decided)
}

fn quarantine(id: InboundId, reason: impl Into<String>) -> Processed {
    Processed {
        inbound: id,
        outcome: Outcome::Quarantined,
        ticket: None,
        reason: Some(reason.into()),
        mails: Vec::new(),
    }
}

fn ignored(id: InboundId, reason: String) -> Processed {
    Processed {
        inbound: id,
        outcome: Outcome::Ignored,
        ticket: None,
        reason: Some(reason),
        mails: Vec::new(),
    }
}

async fn decide(
    tx: &mut TenantTx,
    env: &Env<'_>,
    senders: &Senders,
    id: InboundId,
    parsed: &Result<ParsedMail, parse::ParseError>,
) -> DomainResult<Processed> {
    let p = match parsed {
        Ok(p) => p,
        Err(e) => return Ok(quarantine(id, format!("cannot be parsed: {}", e.reason))),
    };
    let Some(from) = &p.from else {
        return Ok(quarantine(id, "no sender: the message has no From address"));
    };
    if env.own.contains(&from.email) {
        return Ok(quarantine(
            id,
            format!(
                "sent from our own address {}: never answered, to prevent loops",
                from.email
            ),
        ));
    }
    let bounce = p.automated.is_some_and(Automated::is_bounce);
    let ignorable = p.automated.is_some_and(Automated::is_ignorable)
        && env.mailbox.automated_mail == AutomatedMail::Ignore
        && !env.accept_automated;
    let threaded = thread(tx, p).await?;
    let target = match threaded {
        Some(t)
            if t.status == TicketStatus::Closed
                && env.mailbox.closed_replies == ClosedReplies::NewTicket =>
        {
            Target::New { linked: Some(t.id) }
        }
        Some(t) => Target::Existing(Box::new(t)),
        None if bounce => {
            return Ok(quarantine(
                id,
                format!(
                    "bounce, delivery report or antivirus notice ({}) that answers none of our messages",
                    p.automated_signal.unwrap_or("automated")
                ),
            ));
        }
        None if ignorable => {
            let kind = p
                .automated
                .map(Automated::describe)
                .unwrap_or("automated mail");
            return Ok(ignored(
                id,
                format!(
                    "{kind} ({}) that answers none of our tickets: recorded without a ticket \
                     (the mailbox's automated_mail is ignore)",
                    p.automated_signal.unwrap_or("automated")
                ),
            ));
        }
        None => Target::New { linked: None },
    };
    match target {
        Target::Existing(ticket) => {
            add_incoming(tx, env, id, &ticket, p, false).await?;
            Ok(Processed {
                inbound: id,
                outcome: Outcome::Reply,
                ticket: Some(ticket.id),
                reason: None,
                mails: Vec::new(),
            })
        }
        Target::New { linked } => {
            let (contact, client) = senders.resolve(tx, &from.email).await?;
            if client.is_none() && env.mailbox.unknown_senders == UnknownSenders::Quarantine {
                return Ok(quarantine(
                    id,
                    format!(
                        "unknown sender {}: no contact or client domain matches, and this mailbox quarantines unknown senders",
                        from.email
                    ),
                ));
            }
            let subject = threading::normalize_subject(&p.subject);
            let subject = strip_tokens(&subject);
            let ticket = tickets::insert(
                tx,
                TicketDraft {
                    subject: if subject.is_empty() {
                        "(no subject)".into()
                    } else {
                        subject
                    },
                    client_id: client,
                    contact_id: contact,
                    asset_id: None,
                    requester_email: Some(from.email.clone()),
                    requester_name: from.name.clone(),
                    priority: Priority::Medium,
                    assignee_id: None,
                    source: TicketSource::Email,
                    tags: if p.automated.is_some() {
                        vec!["automated".into()]
                    } else {
                        Vec::new()
                    },
                    mailbox_id: Some(env.mailbox.id),
                    linked_ticket_id: linked,
                },
                None,
            )
            .await?;
            add_incoming(tx, env, id, &ticket, p, true).await?;
            let mut mails = Vec::new();
            if p.automated.is_none() {
                // RFC 3834: to the envelope sender, never to Reply-To.
                let to = p.return_path.as_ref().unwrap_or(from).email.clone();
                if !env.own.contains(&to)
                    && inbound::allow_auto_reply(tx, &to, env.ack_limit, ACK_WINDOW).await?
                {
                    mails.push(acknowledge(tx, env, &ticket, p, &to).await?);
                }
            }
            Ok(Processed {
                inbound: id,
                outcome: Outcome::Ticket,
                ticket: Some(ticket.id),
                reason: None,
                mails,
            })
        }
    }
}

enum Target {
    Existing(Box<Ticket>),
    New {
        linked: Option<nestogy_domain::TicketId>,
    },
}

/// Removes `[#n-CODE]` tokens from a subject (a new ticket gets its own).
fn strip_tokens(subject: &str) -> String {
    let mut s = subject.to_owned();
    for t in threading::ticket_tokens(subject) {
        let rendered = t.render();
        if let Some(i) = s.to_uppercase().find(&rendered) {
            s.replace_range(i..i + rendered.len(), "");
        }
    }
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The ticket a message answers, if any: see the module documentation. A
/// merged ticket's mail lands on the ticket it was merged into.
async fn thread(tx: &mut TenantTx, p: &ParsedMail) -> DomainResult<Option<Ticket>> {
    match threaded(tx, p).await? {
        Some(t) => Ok(Some(tickets::follow_merges(tx, t).await?)),
        None => Ok(None),
    }
}

async fn threaded(tx: &mut TenantTx, p: &ParsedMail) -> DomainResult<Option<Ticket>> {
    let mut candidates: Vec<&str> = p.in_reply_to.iter().map(String::as_str).collect();
    candidates.extend(p.references.iter().rev().map(String::as_str));
    // Filled only for delivery reports: the ids of the message returned.
    candidates.extend(p.returned_message_ids.iter().map(String::as_str));
    for id in &candidates {
        if let Some(m) = mail::by_message_id(tx, id).await?
            && m.subject_kind.as_deref() == Some("ticket")
            && let Some(t) = m.subject_id
        {
            match tickets::get(tx, TicketId(t)).await {
                Ok(t) => return Ok(Some(t)),
                Err(DomainError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
    }
    for id in &candidates {
        if let Some(t) = tickets::by_message_id(tx, id).await? {
            return Ok(Some(tickets::get(tx, t).await?));
        }
    }
    for token in threading::ticket_tokens(&p.subject) {
        if let Some(t) = tickets::by_token(tx, &token).await? {
            return Ok(Some(t));
        }
    }
    Ok(None)
}

/// Stores an incoming message and its attachments on `ticket`. Its body is
/// the new text without quoted history, except for a forward that opens a
/// ticket: there the forwarded message is the request itself.
async fn add_incoming(
    tx: &mut TenantTx,
    env: &Env<'_>,
    inbound_id: InboundId,
    ticket: &Ticket,
    p: &ParsedMail,
    opens: bool,
) -> DomainResult<nestogy_domain::TicketMessageId> {
    let mut full = p.text.clone();
    for s in &p.skipped {
        full.push_str(&format!(
            "\n[attachment {} ({} bytes) not kept: {}]",
            s.filename, s.size, s.reason
        ));
    }
    let from = p.from.as_ref();
    let msg = tickets::add_message(
        tx,
        ticket,
        NewMessageRecord {
            kind: MessageKind::Incoming,
            author_id: None,
            from_address: from.map(|a| a.email.clone()),
            from_name: from.and_then(|a| a.name.clone()),
            body: if p.new_text.trim().is_empty() || (opens && p.forwarded) {
                p.text.clone()
            } else {
                p.new_text.clone()
            },
            full_body: full,
            message_id: p.message_id.clone(),
            inbound_id: Some(inbound_id),
            mail_id: None,
            automated: p.automated.map(|a| a.as_str().to_owned()),
        },
    )
    .await?;
    if p.automated.is_none() {
        add_cc_watchers(tx, env, ticket, p).await?;
    }
    let tenant = tx.tenant();
    for a in &p.attachments {
        let key = tickets::attachment_key(tenant, ticket.id, &a.filename, &a.bytes);
        env.files
            .put(&key, a.bytes.clone())
            .await
            .map_err(|e| DomainError::Internal(format!("storing an attachment: {e}")))?;
        tickets::add_attachment(
            tx,
            ticket.id,
            msg,
            &a.filename,
            &a.content_type,
            a.bytes.len() as i64,
            &key,
        )
        .await?;
    }
    Ok(msg)
}

/// The Cc addresses of a person's message that are contacts of the ticket's
/// client become its watchers: never our own addresses, never the ticket's
/// own contact, never twice.
async fn add_cc_watchers(
    tx: &mut TenantTx,
    env: &Env<'_>,
    ticket: &Ticket,
    p: &ParsedMail,
) -> DomainResult<()> {
    let Some(client) = ticket.client_id else {
        return Ok(());
    };
    let mut emails: Vec<String> =
        p.cc.iter()
            .map(|a| a.email.to_lowercase())
            .filter(|e| !env.own.contains(e))
            .collect();
    if emails.is_empty() {
        return Ok(());
    }
    emails.sort();
    emails.dedup();
    for (contact, owner) in contacts::by_emails(tx, &emails).await?.into_values() {
        if owner == client && Some(contact) != ticket.contact_id {
            ticket_watchers::add_contact(tx, ticket.id, contact).await?;
        }
    }
    Ok(())
}

/// The acknowledgement of a new ticket, threaded to the message that
/// opened it and marked as automatic.
async fn acknowledge(
    tx: &mut TenantTx,
    env: &Env<'_>,
    ticket: &Ticket,
    p: &ParsedMail,
    to: &str,
) -> DomainResult<MailId> {
    let number = ticket.token.trim_matches(['[', ']']).to_owned();
    // Never send a subject that did not decode: the token and number say
    // enough.
    let subject = if p.subject_decoded {
        ticket.subject.clone()
    } else {
        format!("Ticket #{}", ticket.number)
    };
    let mut references: Vec<String> = p.references.clone();
    if let Some(m) = &p.message_id {
        references.push(m.clone());
    }
    let message = Message::TicketAcknowledgement {
        ticket: ticket.id,
        about: TicketTitle {
            ticket_number: number,
            ticket_subject: subject.clone(),
        },
        thread: Thread {
            in_reply_to: p.message_id.clone(),
            references,
            reply_to: Some(env.mailbox.address.clone()),
        },
    };
    let new = compose::new_message(
        tx,
        &message,
        format!("ticket:{}:ack", ticket.id),
        vec![to.to_owned()],
    )
    .await?;
    let (m, _) = mail::create_or_get(tx, new, env.mail_domain).await?;
    Ok(m.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_leave_the_subject_of_a_new_ticket() {
        assert_eq!(strip_tokens("[#12-ABCDEF] Printer  jam"), "Printer jam");
        assert_eq!(strip_tokens("No token"), "No token");
    }
}
