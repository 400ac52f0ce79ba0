//! Ticket work: the SLA check every five minutes with its notifications,
//! recurring tickets' fires, and the mail a ticket sends (public replies,
//! to the contact and each watcher; status changes, to contact watchers;
//! assignment notices).

use std::time::Duration;

use nestogy_domain::kernel::audit;
use nestogy_domain::platform::mail::MailMessage;
use nestogy_domain::service_desk::recurring_tickets;
use nestogy_domain::service_desk::ticket_watchers;
use nestogy_domain::service_desk::tickets::{self, MessageKind, NewMessageRecord, Ticket};
use nestogy_domain::{
    DomainError, DomainResult, RecurringTicketId, TenantId, TenantTx, TicketMessageId, UserId,
    identity::users, service_desk::mailboxes, service_desk::sla,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::mail::message::{Attachment, Message, SlaChange, StatusChange, Thread, TicketTitle};
use crate::{Job, JobContext, JobError, JobMeta, Queue, RetryPolicy, mail};

/// Recomputes the SLA state of a tenant's running tickets and notifies the
/// assignee (or, without one, the admins) once per state reached.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SlaCheck {
    pub tenant: TenantId,
}

impl Job for SlaCheck {
    const KIND: &'static str = "tickets.sla_check";
    const QUEUE: Queue = Queue::Tickets;
    const SCHEDULABLE: bool = true;

    fn retry_policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            base: Duration::from_secs(10),
            max_delay: Duration::from_secs(120),
        }
    }

    fn tenant(&self) -> Option<TenantId> {
        Some(self.tenant)
    }

    /// Idempotent: each (ticket, target, state) is recorded once, and its
    /// notification is created with it under the event's key.
    async fn run(self, ctx: JobContext, _: JobMeta) -> Result<serde_json::Value, JobError> {
        let mut tx = ctx.db.tenant(self.tenant).await?;
        sla::refresh(&mut tx, None).await?;
        let events = sla::record_events(&mut tx).await?;
        let mut mails = Vec::new();
        // Read once, when a notice first goes to the admins.
        let mut admins: Option<Vec<String>> = None;
        for e in &events {
            let ticket = tickets::get(&mut tx, e.ticket_id).await?;
            let assignee = match ticket.assignee_id {
                Some(u) => users::get(&mut tx, u).await.ok().filter(|user| user.active),
                None => None,
            };
            let recipients = match (assignee, &admins) {
                (Some(user), _) => vec![user.email],
                (None, Some(a)) => a.clone(),
                (None, None) => admins.insert(users::admin_emails(&mut tx).await?).clone(),
            };
            if recipients.is_empty() {
                continue;
            }
            let change = SlaChange {
                target: e.target.to_owned(),
                state: e.state.as_str().to_owned(),
                due_at: e.due_at,
            };
            let message = Message::TicketSla {
                ticket: ticket.id,
                about: title(&ticket),
                change,
            };
            let new = mail::compose::new_message(
                &mut tx,
                &message,
                format!("sla:{}", e.event_id),
                recipients,
            )
            .await?;
            let (m, _) = mail::create(&mut tx, &ctx, new).await?;
            sla::set_event_mail(&mut tx, e.event_id, m.id).await?;
            mails.push(m.id);
        }
        let (_, pending) = mail::dispatch_in(&mut tx, &mails).await?;
        tx.commit().await?;
        pending.push(&ctx.queue).await;
        Ok(json!({ "events": events.len(), "notified": mails.len() }))
    }
}

/// Handles one fire of a recurring ticket's schedule: opens the ticket from
/// its template for its client, or records the fire as skipped while the
/// ticket the previous fire opened is open (`skip_if_open`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecurringFire {
    pub tenant: TenantId,
    pub recurring_ticket_id: RecurringTicketId,
}

impl Job for RecurringFire {
    const KIND: &'static str = recurring_tickets::JOB_KIND;
    const QUEUE: Queue = Queue::Tickets;

    fn tenant(&self) -> Option<TenantId> {
        Some(self.tenant)
    }

    /// Idempotent: the fire (recurring ticket, fire time) is recorded with
    /// the ticket it opens, in one transaction; a second run finds it and
    /// opens nothing.
    async fn run(self, ctx: JobContext, meta: JobMeta) -> Result<serde_json::Value, JobError> {
        let mut tx = ctx.db.tenant(self.tenant).await?;
        let Some(fire_at) = recurring_tickets::fire_time_of(&mut tx, meta.id).await? else {
            return Err(JobError::permanent(
                "the job is neither a schedule's fire nor a known job",
            ));
        };
        let Some(fired) =
            recurring_tickets::fire(&mut tx, self.recurring_ticket_id, fire_at).await?
        else {
            tx.end_read();
            return Ok(json!({ "fire_at": fire_at, "outcome": "handled_before" }));
        };
        if let Some(t) = &fired.ticket {
            let details = serde_json::to_value(t).unwrap_or_default();
            audit::record(
                &mut tx,
                &audit::Actor::default(),
                "ticket.created",
                "ticket",
                Some(t.id.as_uuid()),
                details,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(json!({
            "fire_at": fired.fire_at,
            "outcome": fired.outcome,
            "ticket_id": fired.ticket.map(|t| t.id),
        }))
    }
}

/// The ticket as its messages name it.
fn title(t: &Ticket) -> TicketTitle {
    TicketTitle {
        ticket_number: t.token.trim_matches(['[', ']']).to_owned(),
        ticket_subject: t.subject.clone(),
    }
}

/// The support address answers about a ticket come back to: the mailbox
/// it arrived on.
async fn reply_to(tx: &mut TenantTx, t: &Ticket) -> DomainResult<Option<String>> {
    match t.mailbox_id {
        Some(m) => match mailboxes::get(tx, m).await {
            Ok(mb) => Ok(Some(mb.address)),
            Err(DomainError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        },
        None => Ok(None),
    }
}

/// A file sent with a reply, already in the object store.
#[derive(Debug, Clone, Serialize)]
pub struct StoredFile {
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub key: String,
}

/// A reply stored (or found, when its request was retried).
pub struct Reply {
    pub message: TicketMessageId,
    pub mail: MailMessage,
    /// The reply's copies to the ticket's watchers, one mail each.
    pub watcher_mails: Vec<MailMessage>,
    /// False when a retried request found the reply it made before.
    pub created: bool,
}

/// Stores a public staff reply and creates its mail to the contact,
/// threaded (In-Reply-To the latest message, References all of them) so
/// the answer comes back to this ticket, with `files` attached, and a copy
/// of it to each watcher (a separate mail each, so no watcher sees another's
/// address; none to an address the reply goes to already). One reply per
/// (request, text): a retried request finds the one it made and its
/// copies. Dispatch the mails after commit.
pub async fn public_reply(
    tx: &mut TenantTx,
    ctx: &JobContext,
    ticket: &Ticket,
    body: &str,
    files: &[StoredFile],
    author: Option<UserId>,
    request: &str,
) -> DomainResult<Reply> {
    let Some(to) = tickets::reply_address(tx, ticket).await? else {
        return Err(DomainError::conflict(
            "no_recipient",
            "this ticket has no contact or requester with an e-mail address; add an internal note instead",
        ));
    };
    let references = tickets::message_ids(tx, ticket.id).await?;
    let digest = {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(body.as_bytes());
        for f in files {
            h.update(f.key.as_bytes());
        }
        hex::encode(h.finalize())
    };
    let thread = Thread {
        in_reply_to: references.last().cloned(),
        reply_to: reply_to(tx, ticket).await?,
        references,
    };
    let attachments = files
        .iter()
        .map(|f| Attachment {
            filename: f.filename.clone(),
            content_type: f.content_type.clone(),
            size: Some(f.size),
            key: f.key.clone(),
        })
        .collect();
    let reply = Message::TicketReply {
        ticket: ticket.id,
        about: title(ticket),
        thread,
        body: body.to_owned(),
        attachments,
    };
    let key = format!("ticket:{}:reply:{request}:{}", ticket.id, &digest[..16]);
    let subject = mail::compose::compose(tx, &reply).await?.subject;
    let new = reply.new_message(key.clone(), vec![to.clone()], subject.clone());
    let (m, created) = mail::create(tx, ctx, new).await?;
    let mut watcher_mails = Vec::new();
    for w in ticket_watchers::recipients(tx, ticket.id, false, std::slice::from_ref(&to)).await? {
        let copy = reply.new_message(
            format!("{key}:watcher:{}", w.watcher),
            vec![w.email],
            subject.clone(),
        );
        watcher_mails.push(mail::create(tx, ctx, copy).await?.0);
    }
    if !created && let Some(message) = tickets::message_of_mail(tx, ticket.id, m.id).await? {
        return Ok(Reply {
            message,
            mail: m,
            watcher_mails,
            created: false,
        });
    }
    let id = tickets::add_message(
        tx,
        ticket,
        NewMessageRecord {
            kind: MessageKind::Reply,
            author_id: author,
            from_address: None,
            from_name: None,
            body: body.to_owned(),
            full_body: body.to_owned(),
            message_id: Some(m.message_id.clone()),
            inbound_id: None,
            mail_id: Some(m.id),
            automated: None,
        },
    )
    .await?;
    Ok(Reply {
        message: id,
        mail: m,
        watcher_mails,
        created: true,
    })
}

/// Tells the ticket's contact watchers (not its own contact, who asked)
/// that its status changed: `Ticket [#12-K7QX] is now resolved`. One mail
/// per watcher and status change (`change`, the id of the change in the
/// ticket's history), so calling it again for the same change creates
/// nothing new. Dispatch the mails after commit.
pub async fn notify_watchers_of_status(
    tx: &mut TenantTx,
    ctx: &JobContext,
    ticket: &Ticket,
    change: i64,
) -> DomainResult<Vec<MailMessage>> {
    let own: Vec<String> = tickets::reply_address(tx, ticket)
        .await?
        .into_iter()
        .collect();
    let mut mails = Vec::new();
    for w in ticket_watchers::recipients(tx, ticket.id, true, &own).await? {
        let message = Message::TicketStatus {
            ticket: ticket.id,
            about: title(ticket),
            change: StatusChange {
                status: ticket.status.as_str().to_owned(),
            },
        };
        let new = mail::compose::new_message(
            tx,
            &message,
            format!("ticket:{}:status:{change}:watcher:{}", ticket.id, w.watcher),
            vec![w.email],
        )
        .await?;
        mails.push(mail::create(tx, ctx, new).await?.0);
    }
    Ok(mails)
}

/// Tells a tech a ticket was assigned to them (not when they took it
/// themselves). Dispatch the mail after commit.
pub async fn notify_assigned(
    tx: &mut TenantTx,
    ctx: &JobContext,
    ticket: &Ticket,
    by: Option<UserId>,
) -> DomainResult<Option<MailMessage>> {
    let Some(assignee) = ticket.assignee_id else {
        return Ok(None);
    };
    if by == Some(assignee) {
        return Ok(None);
    }
    let user = users::get(tx, assignee).await?;
    let by_name = match by {
        Some(b) => users::get(tx, b).await.map(|u| u.name).unwrap_or_default(),
        None => "the system".into(),
    };
    let message = Message::TicketAssigned {
        ticket: ticket.id,
        about: title(ticket),
        by: by_name,
    };
    let key = format!(
        "ticket:{}:assigned:{}:{}",
        ticket.id,
        assignee,
        tx.now().timestamp_micros()
    );
    let new = mail::compose::new_message(tx, &message, key, vec![user.email]).await?;
    Ok(Some(mail::create(tx, ctx, new).await?.0))
}
