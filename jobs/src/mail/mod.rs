//! Outbound mail, sent only from jobs. A message is first created in the
//! registry (`nestogy_domain::platform::mail`), once per dedupe key; [`Deliver`] then
//! hands it to the tenant's SMTP server, the platform's default, or the
//! outbox folder.

pub mod compose;
pub mod message;
pub mod transport;

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Attachment, MultiPart, SinglePart};
use nestogy_domain::platform::mail::{self, CreateError, MailStatus, NewMessage, Outcome};
use nestogy_domain::{JobId, MailId, TenantId, TenantTx, billing::invoices, identity::company};
use serde::{Deserialize, Serialize};

use crate::enqueue::{self, EnqueueError, PendingPush, Prepared};
use crate::services::MailConfig;
use crate::store;
use crate::{Job, JobContext, JobError, JobMeta, Queue, RetryPolicy, documents};
pub use message::Message;
use transport::{SendFailure, Sender};

/// Creates a message in `tx` (or finds the one with its dedupe key).
pub async fn create(
    tx: &mut TenantTx,
    ctx: &JobContext,
    new: NewMessage,
) -> Result<(mail::MailMessage, bool), CreateError> {
    let domain = sender_domain(tx, &ctx.services.mail).await?;
    mail::create_or_get(tx, new, &domain).await
}

impl From<CreateError> for JobError {
    fn from(e: CreateError) -> Self {
        nestogy_domain::DomainError::from(e).into()
    }
}

pub(crate) async fn sender_domain(
    tx: &mut TenantTx,
    cfg: &MailConfig,
) -> Result<String, nestogy_domain::DomainError> {
    let tenant = tx.tenant();
    let own: Option<String> =
        sqlx::query_scalar("SELECT from_address FROM company_smtp WHERE company_id = $1")
            .bind(tenant)
            .fetch_optional(tx.conn())
            .await?;
    Ok(MailConfig::domain_of(own.as_deref().unwrap_or(&cfg.from_address)).to_owned())
}

/// Records the delivery jobs of messages created in `tx` (or before) in
/// `tx`, the transaction that creates them, and notes each message's job;
/// returns a job id per message and what to push after `tx` commits. A
/// message's job has the unique key `mail:<id>`, so dispatching it again
/// answers the first job.
pub async fn dispatch_in(
    tx: &mut TenantTx,
    ids: &[MailId],
) -> Result<(Vec<JobId>, PendingPush), EnqueueError> {
    if ids.is_empty() {
        return Ok((Vec::new(), PendingPush::none()));
    }
    let tenant = tx.tenant();
    let now = tx.now();
    let keys: Vec<String> = ids.iter().map(|id| format!("mail:{id}")).collect();
    let prepared = ids
        .iter()
        .zip(&keys)
        .map(|(id, key)| Prepared::typed(&Deliver { tenant, mail: *id }, now, Some(key.clone())))
        .collect::<Result<Vec<_>, _>>()?;
    let pending = enqueue::record_in(tx, prepared).await?;
    // A message dispatched before keeps the job its key names.
    let mut jobs = Vec::with_capacity(ids.len());
    for key in &keys {
        let job = match pending
            .jobs()
            .iter()
            .find(|r| r.row.unique_key.as_ref() == Some(key))
        {
            Some(r) => r.row.id,
            None => store::tenant_by_unique_key(tx, key)
                .await?
                .ok_or_else(|| EnqueueError::KeyHeldElsewhere(key.clone()))?,
        };
        jobs.push(job);
    }
    let job_ids: Vec<uuid::Uuid> = jobs.iter().map(|j| j.as_uuid()).collect();
    mail::set_job(tx, ids, &job_ids).await?;
    Ok((jobs, pending))
}

/// Delivers one message. Idempotent: the message row is locked while the
/// server is spoken to, and a message not `queued` any more is left alone,
/// so a job run twice (or twice at once) delivers once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Deliver {
    pub tenant: TenantId,
    pub mail: MailId,
}

impl Job for Deliver {
    const KIND: &'static str = "mail.deliver";
    const QUEUE: Queue = Queue::Mail;

    fn retry_policy() -> RetryPolicy {
        // About a day and a half of retries for a server that says "later".
        RetryPolicy {
            max_attempts: 12,
            base: Duration::from_secs(2),
            max_delay: Duration::from_secs(4 * 3600),
        }
    }

    fn timeout() -> Duration {
        Duration::from_secs(120)
    }

    fn tenant(&self) -> Option<TenantId> {
        Some(self.tenant)
    }

    async fn run(self, ctx: JobContext, meta: JobMeta) -> Result<serde_json::Value, JobError> {
        // Read first (unlocked) to render what is attached outside the lock.
        let mut tx = ctx.db.tenant(self.tenant).await?;
        let msg = mail::get(&mut tx, self.mail).await?;
        tx.end_read();
        if msg.status != MailStatus::Queued {
            return Ok(serde_json::json!({ "status": msg.status, "already": true }));
        }
        let message = Message::read(&msg)?.opened(self.tenant, ctx.services.secrets.as_ref())?;
        let mut tx = ctx.db.tenant(self.tenant).await?;
        if let Some(why) = obsolete(&mut tx, &message).await? {
            mail::cancel(&mut tx, msg.id, why).await?;
            tx.commit().await?;
            return Ok(serde_json::json!({ "status": "cancelled", "reason": why }));
        }
        let composed = compose::compose(&mut tx, &message).await?;
        tx.end_read();
        let mut attachments = Vec::new();
        if let Some(doc) = &composed.attachment {
            let r = documents::ensure_rendered(&ctx, self.tenant, doc).await?;
            attachments.push((r.file_name, "application/pdf".to_owned(), r.bytes));
        }
        // Files kept in the object store (a ticket reply's, a report's).
        for f in message.attachments() {
            if f.key.is_empty() || f.filename.is_empty() {
                continue;
            }
            let bytes =
                ctx.services.files.get(&f.key).await.map_err(|e| {
                    JobError::retry(format!("reading attachment {}: {e}", f.filename))
                })?;
            let content_type = if f.content_type.is_empty() {
                "application/octet-stream".to_owned()
            } else {
                f.content_type.clone()
            };
            attachments.push((f.filename.clone(), content_type, bytes.to_vec()));
        }

        let mut tx = ctx.db.tenant(self.tenant).await?;
        let msg = mail::lock(&mut tx, self.mail).await?;
        if msg.status != MailStatus::Queued {
            tx.commit().await?;
            return Ok(serde_json::json!({ "status": msg.status, "already": true }));
        }
        let company = company::get(&mut tx).await?;
        let server = mail::smtp_server(&mut tx, ctx.services.secrets.as_ref()).await?;
        let sender = match &server {
            Some(s) => Sender::for_server(s, &company.name),
            None => Sender::default(&ctx.services.mail, &company.name),
        };
        let result = match sender {
            Ok(sender) => match build(&sender, &msg, &message, &composed, attachments) {
                Ok(m) => sender.send(m).await,
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        let last_try = meta.attempt >= Self::retry_policy().max_attempts;
        let outcome = match &result {
            Ok(answer) => {
                mail::record_attempt(&mut tx, msg.id, Outcome::Sent, answer, false).await?;
                Ok(
                    serde_json::json!({ "status": "sent", "answer": answer, "message_id": msg.message_id }),
                )
            }
            Err(SendFailure {
                temporary: true,
                message,
            }) => {
                mail::record_attempt(&mut tx, msg.id, Outcome::Temporary, message, last_try)
                    .await?;
                Err(JobError::retry(format!("SMTP, temporary: {message}")))
            }
            Err(SendFailure { message, .. }) => {
                mail::record_attempt(&mut tx, msg.id, Outcome::Permanent, message, true).await?;
                Err(JobError::permanent(format!("SMTP, permanent: {message}")))
            }
        };
        tx.commit().await?;
        match &outcome {
            Ok(_) => metrics::counter!("mail_sent_total").increment(1),
            Err(_) => metrics::counter!("mail_failed_attempts_total").increment(1),
        }
        outcome
    }
}

/// Why a queued message is no longer worth sending.
async fn obsolete(tx: &mut TenantTx, message: &Message) -> Result<Option<&'static str>, JobError> {
    let Message::OverdueReminder { invoice, .. } = message else {
        return Ok(None);
    };
    let inv = invoices::get(tx, *invoice).await?;
    Ok(match inv.status {
        invoices::InvoiceStatus::Paid => Some("the invoice was paid before the reminder went out"),
        invoices::InvoiceStatus::Void => {
            Some("the invoice was voided before the reminder went out")
        }
        _ => None,
    })
}

fn build(
    sender: &Sender,
    msg: &mail::MailMessage,
    message: &Message,
    composed: &compose::Composed,
    attachments: Vec<(String, String, Vec<u8>)>,
) -> Result<lettre::Message, SendFailure> {
    let invalid = |e: String| SendFailure {
        temporary: false,
        message: e,
    };
    let mut b = lettre::Message::builder()
        .from(sender.from.clone())
        .subject(msg.subject.clone())
        .message_id(Some(msg.message_id.clone()));
    for r in &msg.recipients {
        b = b.to(lettre::message::Mailbox::new(
            None,
            recipient(r).map_err(invalid)?,
        ));
    }
    b = threading_headers(b, message).map_err(invalid)?;
    // RFC 3834: an automatic answer goes out with a null envelope sender
    // (`MAIL FROM:<>`), so nothing it causes can come back to us.
    if message.null_sender() {
        let to = msg
            .recipients
            .iter()
            .map(|r| recipient(r))
            .collect::<Result<Vec<lettre::Address>, _>>()
            .map_err(invalid)?;
        let envelope = lettre::address::Envelope::new(None, to)
            .map_err(|e| invalid(format!("envelope: {e}")))?;
        b = b.envelope(envelope);
    }
    let text = SinglePart::plain(composed.text.clone());
    let built = if attachments.is_empty() {
        b.singlepart(text)
    } else {
        let mut parts = MultiPart::mixed().singlepart(text);
        for (name, content_type, bytes) in attachments {
            let ct = ContentType::parse(&content_type)
                .or_else(|_| ContentType::parse("application/octet-stream"))
                .map_err(|e| invalid(e.to_string()))?;
            parts = parts.singlepart(Attachment::new(name).body(bytes, ct));
        }
        b.multipart(parts)
    };
    built.map_err(|e| invalid(format!("building the message: {e}")))
}

/// A recipient address. lettre refuses RFC 5322 quoted local parts
/// (`"System Administrator"@example.com`), which are valid and in use: a
/// quoted string of printable characters (quotes and backslashes escaped)
/// is taken as it is.
fn recipient(r: &str) -> Result<lettre::Address, String> {
    if let Ok(a) = r.parse::<lettre::Address>() {
        return Ok(a);
    }
    let refused = || format!("recipient {r:?}: not an e-mail address");
    let (local, domain) = r.rsplit_once('@').ok_or_else(refused)?;
    let inner = local
        .strip_prefix('"')
        .and_then(|l| l.strip_suffix('"'))
        .ok_or_else(refused)?;
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        let ok = match c {
            '\\' => chars
                .next()
                .is_some_and(|n| n == ' ' || n.is_ascii_graphic()),
            '"' => false,
            c => c == ' ' || c.is_ascii_graphic(),
        };
        if !ok {
            return Err(refused());
        }
    }
    // The domain is checked as lettre checks any.
    let checked: lettre::Address = format!("x@{domain}").parse().map_err(|_| refused())?;
    Ok(lettre::Address::new_dangerous(local, checked.domain()))
}

/// The headers that thread a message and stop loops: `In-Reply-To`,
/// `References` (oldest first), `Reply-To` (where answers go: a support
/// mailbox) and `Auto-Submitted` (RFC 3834, for messages no person wrote).
fn threading_headers(
    mut b: lettre::message::MessageBuilder,
    message: &Message,
) -> Result<lettre::message::MessageBuilder, String> {
    if let Some(thread) = message.thread() {
        if let Some(id) = &thread.in_reply_to {
            b = b.in_reply_to(id.clone());
        }
        if !thread.references.is_empty() {
            b = b.references(thread.references.join(" "));
        }
        if let Some(to) = &thread.reply_to {
            let mbox = to.parse().map_err(|e| format!("reply-to {to:?}: {e}"))?;
            b = b.reply_to(mbox);
        }
    }
    if let Some(v) = message.auto_submitted() {
        b = b.header(AutoSubmitted(v.to_owned()));
    }
    Ok(b)
}

/// RFC 3834 `Auto-Submitted`.
#[derive(Debug, Clone)]
struct AutoSubmitted(String);

impl lettre::message::header::Header for AutoSubmitted {
    fn name() -> lettre::message::header::HeaderName {
        lettre::message::header::HeaderName::new_from_ascii_str("Auto-Submitted")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoSubmitted(s.trim().to_owned()))
    }
    fn display(&self) -> lettre::message::header::HeaderValue {
        lettre::message::header::HeaderValue::new(Self::name(), self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::recipient;

    #[test]
    fn quoted_local_parts_are_recipients() {
        let a = recipient("\"system administrator\"@oldcorp.example").expect("quoted");
        assert_eq!(a.to_string(), "\"system administrator\"@oldcorp.example");
        assert_eq!(a.domain(), "oldcorp.example");
        assert!(recipient("alice@acme.example").is_ok());
        for bad in [
            "\"a\"b\"@x.example",
            "\"a\u{7}\"@x.example",
            "\"a\"@bad domain",
            "nobody",
        ] {
            assert!(recipient(bad).is_err(), "{bad}");
        }
    }
}
