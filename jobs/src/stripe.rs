//! Stripe jobs: payment links and autopay.
//!
//! Stripe's API takes form-encoded requests and answers JSON; every POST
//! carries an `Idempotency-Key` derived from a row written before the call
//! (the link, the autopay attempt), so a job retried after a timeout asks
//! for the same thing again and Stripe answers with the first result
//! instead of charging twice.

use std::time::Duration;

use nestogy_domain::integrations::stripe::{self, AutopayAttempt, Keys};
use nestogy_domain::{TenantId, billing::invoices, customers::contacts, identity::users};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::mail::compose;
use crate::mail::message::{ChargeFailure, Message};

use crate::{Job, JobContext, JobError, JobMeta, Queue, RetryPolicy, mail};

/// How Stripe answered a POST.
enum Answer {
    Ok(Value),
    /// 402: the card was declined (or another card error).
    Declined {
        code: String,
        message: String,
        intent: Option<String>,
    },
    /// Another 4xx: the request itself is wrong; retrying will not help.
    Refused(String),
}

/// A call that got no usable answer: worth retrying; `reached` when Stripe
/// may have acted on it (a timeout, a 5xx) rather than surely not (no
/// connection, 429).
struct Unanswered {
    error: JobError,
    reached: bool,
}

impl From<Unanswered> for JobError {
    fn from(u: Unanswered) -> Self {
        u.error
    }
}

fn unanswered(reached: bool, message: String) -> Unanswered {
    Unanswered {
        error: JobError::retry(message),
        reached,
    }
}

async fn post(
    ctx: &JobContext,
    keys: &Keys,
    path: &str,
    form: &[(String, String)],
    idempotency_key: &str,
) -> Result<Answer, Unanswered> {
    let cfg = &ctx.services.integrations;
    let client = crate::http::client(cfg.http_timeout)
        .map_err(|e| unanswered(false, format!("building the HTTP client: {e}")))?;
    let url = format!("{}{path}", cfg.stripe_api_base.trim_end_matches('/'));
    let resp = client
        .post(&url)
        .bearer_auth(&keys.secret_key)
        .header("Idempotency-Key", idempotency_key)
        .form(form)
        .send()
        .await
        .map_err(|e| unanswered(!e.is_connect(), format!("calling Stripe: {e}")))?;
    let status = resp.status();
    let body: Value = resp
        .json()
        .await
        .map_err(|e| unanswered(true, format!("reading Stripe's answer ({status}): {e}")))?;
    if status.is_success() {
        return Ok(Answer::Ok(body));
    }
    if status.is_server_error() || status.as_u16() == 429 {
        return Err(unanswered(
            status.as_u16() != 429,
            format!("Stripe answered {status}"),
        ));
    }
    let err = body.get("error").cloned().unwrap_or(Value::Null);
    let text = |k: &str| err.get(k).and_then(Value::as_str).map(str::to_owned);
    let message = text("message").unwrap_or_else(|| format!("Stripe answered {status}"));
    if status.as_u16() == 402 {
        return Ok(Answer::Declined {
            code: text("decline_code")
                .or_else(|| text("code"))
                .unwrap_or_else(|| "card_error".into()),
            message,
            intent: err
                .pointer("/payment_intent/id")
                .and_then(Value::as_str)
                .map(str::to_owned),
        });
    }
    Ok(Answer::Refused(format!(
        "{} ({})",
        message,
        text("code").unwrap_or_else(|| status.as_u16().to_string())
    )))
}

fn field(k: &str, v: impl ToString) -> (String, String) {
    (k.to_owned(), v.to_string())
}

/// Creates the Checkout Session of a payment link.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PaymentLink {
    pub tenant: TenantId,
    pub link: Uuid,
}

impl Job for PaymentLink {
    const KIND: &'static str = "stripe.payment_link";
    const QUEUE: Queue = Queue::Default;

    fn tenant(&self) -> Option<TenantId> {
        Some(self.tenant)
    }

    /// Idempotent: a link that is ready or failed is left alone, and the
    /// session is asked for with the link's own idempotency key, so a rerun
    /// after a lost answer gets the same session back.
    async fn run(self, ctx: JobContext, _: JobMeta) -> Result<Value, JobError> {
        let mut tx = ctx.db.tenant(self.tenant).await?;
        let link = stripe::get_link(&mut tx, self.link).await?;
        if link.status != "pending" {
            tx.end_read();
            return Ok(json!({ "link": link.id, "status": link.status }));
        }
        let keys = stripe::keys(&mut tx, ctx.services.secrets.as_ref()).await?;
        let inv = invoices::get(&mut tx, link.invoice_id).await?;
        // The payer comes back to the company's client portal.
        let slug = nestogy_domain::identity::company::get(&mut tx)
            .await?
            .portal_slug;
        let Some(keys) = keys else {
            stripe::finish_link(&mut tx, link.id, Err("Stripe is not configured")).await?;
            tx.commit().await?;
            return Ok(json!({ "link": link.id, "status": "failed" }));
        };
        tx.end_read();
        let base = ctx
            .services
            .integrations
            .public_url
            .trim_end_matches('/')
            .to_owned();
        let name = format!("Invoice {}", inv.number.as_deref().unwrap_or("(draft)"));
        let form = vec![
            field("mode", "payment"),
            field(
                "line_items[0][price_data][currency]",
                inv.currency.to_lowercase(),
            ),
            field(
                "line_items[0][price_data][unit_amount]",
                stripe::to_minor_units(link.amount, &link.currency),
            ),
            field("line_items[0][price_data][product_data][name]", name),
            field("line_items[0][quantity]", 1),
            field(
                "success_url",
                format!("{base}/portal/{slug}/payments/{}/done", inv.id),
            ),
            field(
                "cancel_url",
                format!("{base}/portal/{slug}/payments/{}/cancelled", inv.id),
            ),
            field("client_reference_id", inv.id),
            field("metadata[invoice_id]", inv.id),
            field("metadata[company_id]", self.tenant),
            field("metadata[payment_link_id]", link.id),
            field("payment_intent_data[metadata][invoice_id]", inv.id),
            field("payment_intent_data[metadata][company_id]", self.tenant),
        ];
        let key = format!("payment-link:{}", link.id);
        let answer = post(&ctx, &keys, "/v1/checkout/sessions", &form, &key).await?;
        let mut tx = ctx.db.tenant(self.tenant).await?;
        let status = match answer {
            Answer::Ok(body) => {
                let id = body.get("id").and_then(Value::as_str);
                let url = body.get("url").and_then(Value::as_str);
                match (id, url) {
                    (Some(id), Some(url)) => {
                        stripe::finish_link(&mut tx, link.id, Ok((id, url))).await?;
                        "ready"
                    }
                    _ => {
                        stripe::finish_link(
                            &mut tx,
                            link.id,
                            Err("Stripe's answer has no id or url"),
                        )
                        .await?;
                        "failed"
                    }
                }
            }
            Answer::Declined { message, .. } | Answer::Refused(message) => {
                stripe::finish_link(&mut tx, link.id, Err(&message)).await?;
                "failed"
            }
        };
        tx.commit().await?;
        Ok(json!({ "link": link.id, "status": status }))
    }
}

/// Charges a tenant's autopay invoices that are due, through PaymentIntents.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Autopay {
    pub tenant: TenantId,
}

impl Job for Autopay {
    const KIND: &'static str = "stripe.autopay";
    const QUEUE: Queue = Queue::Billing;
    const SCHEDULABLE: bool = true;

    /// Retries over about an hour, well inside the life of Stripe's
    /// idempotency keys (24 hours), so a resent attempt is answered from
    /// Stripe's record of the first.
    fn retry_policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 8,
            base: Duration::from_secs(30),
            max_delay: Duration::from_secs(3600),
        }
    }

    /// One call per due invoice, each up to the HTTP timeout.
    fn timeout() -> Duration {
        Duration::from_secs(15 * 60)
    }

    fn tenant(&self) -> Option<TenantId> {
        Some(self.tenant)
    }

    /// Idempotent: each attempt is a row committed before Stripe is called,
    /// keyed `autopay:{invoice}:{attempt}`. A retried job (a timeout, a 5xx)
    /// finds the attempt still pending and sends it again with the same key
    /// and amount, which Stripe answers without charging again; an attempt
    /// with an answer is never sent again, and its payment is recorded once
    /// per PaymentIntent.
    async fn run(self, ctx: JobContext, _: JobMeta) -> Result<Value, JobError> {
        let mut tx = ctx.db.tenant(self.tenant).await?;
        let today = nestogy_domain::identity::company::today(&mut tx).await?;
        let Some(keys) = stripe::keys(&mut tx, ctx.services.secrets.as_ref()).await? else {
            tx.end_read();
            return Ok(json!({ "charged": 0, "reason": "Stripe is not configured" }));
        };
        let due = stripe::due_attempts(&mut tx, today).await?;
        let stale = stripe::stale_attempts(&mut tx).await?;
        tx.commit().await?;
        let (mut paid, mut failed, mut pending) = (0u32, 0u32, 0u32);
        let mut retry: Option<JobError> = None;
        let mut mails = Vec::new();
        let mut dispatched = 0;
        for a in &due {
            let form = vec![
                field("amount", stripe::to_minor_units(a.amount, &a.currency)),
                field("currency", a.currency.to_lowercase()),
                field("customer", &a.customer_id),
                field("payment_method", &a.payment_method_id),
                field("off_session", true),
                field("confirm", true),
                field("metadata[invoice_id]", a.invoice_id),
                field("metadata[company_id]", self.tenant),
                field("metadata[autopay_attempt]", a.attempt),
            ];
            let answer = match post(
                &ctx,
                &keys,
                "/v1/payment_intents",
                &form,
                &a.idempotency_key,
            )
            .await
            {
                Ok(x) => x,
                Err(u) => {
                    pending += 1;
                    if u.reached {
                        let mut tx = ctx.db.tenant(self.tenant).await?;
                        stripe::attempt_uncertain(&mut tx, a).await?;
                        tx.commit().await?;
                    }
                    retry.get_or_insert(u.error);
                    continue;
                }
            };
            let mut tx = ctx.db.tenant(self.tenant).await?;
            match answer {
                Answer::Ok(pi) => {
                    let id = pi.get("id").and_then(Value::as_str).unwrap_or("");
                    match pi.get("status").and_then(Value::as_str) {
                        Some("succeeded") if !id.is_empty() => {
                            stripe::attempt_succeeded(&mut tx, a, id).await?;
                            paid += 1;
                        }
                        // Settles later: the payment_intent.succeeded event records it.
                        Some("processing") => pending += 1,
                        other => {
                            let why = format!("the payment is {}", other.unwrap_or("unknown"));
                            let next = stripe::attempt_failed(
                                &mut tx,
                                a,
                                today,
                                other.unwrap_or("unknown"),
                                &why,
                                Some(id).filter(|i| !i.is_empty()),
                            )
                            .await?;
                            mails.extend(notify(&mut tx, &ctx, a, &why, next).await?);
                            failed += 1;
                        }
                    }
                }
                Answer::Declined {
                    code,
                    message,
                    intent,
                } => {
                    let next = stripe::attempt_failed(
                        &mut tx,
                        a,
                        today,
                        &code,
                        &message,
                        intent.as_deref(),
                    )
                    .await?;
                    mails.extend(notify(&mut tx, &ctx, a, &message, next).await?);
                    failed += 1;
                }
                Answer::Refused(message) => {
                    let next = stripe::attempt_failed(&mut tx, a, today, "refused", &message, None)
                        .await?;
                    mails.extend(notify(&mut tx, &ctx, a, &message, next).await?);
                    failed += 1;
                }
            }
            // The attempt's outcome and its notice's delivery job commit
            // together.
            let (_, push) = mail::dispatch_in(&mut tx, &mails[dispatched..]).await?;
            dispatched = mails.len();
            tx.commit().await?;
            push.push(&ctx.queue).await;
        }
        if let Some(e) = retry {
            return Err(e);
        }
        Ok(json!({
            "as_of": today, "attempts": due.len(), "paid": paid, "failed": failed, "pending": pending,
            "stale": stale,
        }))
    }
}

/// The notice of a failed charge: to the client's billing contacts, or the
/// admins when the client has none; once per attempt.
async fn notify(
    tx: &mut nestogy_domain::TenantTx,
    ctx: &JobContext,
    a: &AutopayAttempt,
    reason: &str,
    next: Option<chrono::NaiveDate>,
) -> Result<Option<nestogy_domain::MailId>, JobError> {
    let inv = invoices::get(tx, a.invoice_id).await?;
    let mut recipients = contacts::billing_recipients(tx, inv.client_id).await?;
    if recipients.is_empty() {
        recipients = users::admin_emails(tx).await?;
    }
    if recipients.is_empty() {
        return Ok(None);
    }
    let failure = ChargeFailure {
        reason: reason.to_owned(),
        next_attempt_on: next,
        attempt: a.attempt,
    };
    let new = compose::new_message(
        tx,
        &Message::PaymentFailed {
            invoice: inv.id,
            failure,
        },
        format!("autopay:{}:{}:failed", a.invoice_id, a.attempt),
        recipients,
    )
    .await?;
    let (m, created) = mail::create(tx, ctx, new).await?;
    Ok(created.then_some(m.id))
}
