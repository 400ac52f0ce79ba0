//! `/console/settings/mailboxes`: the IMAP mailboxes tickets arrive by.
//!
//! - The list, and a new mailbox.
//! - One mailbox: its state (last poll, last error), its edit form (the
//!   password is never shown; left empty it stays as stored), the
//!   connection test, and the messages it held back: the quarantine and
//!   the ignored automated mail, each with "reprocess"; removing it.
//! - The connection test is a job (`POST /mailboxes/{id}/test` answers its
//!   id): the console sends the browser back to the mailbox with `?test=`
//!   the job, and the page reads the job (`GET /api/v1/jobs/{id}`) and says
//!   how it went: still waiting, connected (with what the server said), or
//!   the error.
//! - "Poll now" (`POST /mailboxes/{id}/poll`): the API wakes the poll
//!   listening on the mailbox or queues one, and answers which and the
//!   job's id; the console sends the browser back to the mailbox with
//!   `?polled=` and `poll_job=`, and the page says what the API did, the
//!   job's state now, and links it on the queue dashboard.

use axum::extract::{Path, Query};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use nestogy_api::admin::session::see_other;
use nestogy_domain::kernel::pagination::Page;
use nestogy_domain::platform::jobs::{JobRecord, JobState};
use nestogy_domain::platform::mail::TlsMode;
use nestogy_domain::service_desk::inbound::InboundMessage;
use nestogy_domain::service_desk::mailboxes::{
    AutomatedMail, ClosedReplies, Mailbox, UnknownSenders,
};
use nestogy_domain::{InboundId, JobId, MailboxId};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::back;
use crate::api_client::{ApiFailure, query};
use crate::layout::{self, Section};
use crate::pages::clients::{checkbox, input, next_link, parse_id, refusal};
use crate::session::{Console, Form, NoFields};

const BASE: &str = "/console/settings/mailboxes";

/// The API's answer to work it queued.
#[derive(Deserialize)]
struct Queued {
    job_id: JobId,
}

/// The API's answer to "poll now".
#[derive(Deserialize)]
struct PollAnswer {
    polled: String,
    job_id: Option<JobId>,
}

/// The fields of the new and edit forms.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailboxFields {
    name: String,
    address: String,
    host: String,
    #[serde(default)]
    port: String,
    tls: String,
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    folder: String,
    unknown_senders: String,
    closed_replies: String,
    automated_mail: String,
    enabled: Option<String>,
}

impl MailboxFields {
    fn new_default() -> Self {
        MailboxFields {
            tls: TlsMode::Tls.as_str().into(),
            folder: "INBOX".into(),
            unknown_senders: UnknownSenders::Triage.as_str().into(),
            closed_replies: ClosedReplies::NewTicket.as_str().into(),
            automated_mail: AutomatedMail::Ignore.as_str().into(),
            enabled: Some("true".into()),
            ..Default::default()
        }
    }

    fn of(m: &Mailbox) -> Self {
        MailboxFields {
            name: m.name.clone(),
            address: m.address.clone(),
            host: m.host.clone(),
            port: m.port.to_string(),
            tls: m.tls.as_str().into(),
            username: m.username.clone(),
            password: String::new(),
            folder: m.folder.clone(),
            unknown_senders: m.unknown_senders.as_str().into(),
            closed_replies: m.closed_replies.as_str().into(),
            automated_mail: m.automated_mail.as_str().into(),
            enabled: m.enabled.then(|| "true".into()),
        }
    }

    /// The request body: the port as a number when it reads as one (else
    /// as typed, for the API to refuse), the password only when typed.
    fn body(&self) -> Value {
        let mut m = Map::new();
        for (k, v) in [
            ("name", &self.name),
            ("address", &self.address),
            ("host", &self.host),
            ("tls", &self.tls),
            ("username", &self.username),
            ("unknown_senders", &self.unknown_senders),
            ("closed_replies", &self.closed_replies),
            ("automated_mail", &self.automated_mail),
        ] {
            m.insert(k.into(), json!(v.trim()));
        }
        let port = self.port.trim();
        if !port.is_empty() {
            m.insert(
                "port".into(),
                port.parse::<u64>()
                    .map(Value::from)
                    .unwrap_or_else(|_| json!(port)),
            );
        }
        if !self.folder.trim().is_empty() {
            m.insert("folder".into(), json!(self.folder.trim()));
        }
        if !self.password.is_empty() {
            m.insert("password".into(), json!(self.password));
        }
        m.insert("enabled".into(), json!(self.enabled.is_some()));
        Value::Object(m)
    }
}

fn select(
    label: &str,
    name: &str,
    current: &str,
    options: &[(&str, &str)],
    p: Option<&ApiFailure>,
) -> Markup {
    let id = format!("f-{name}");
    let message = p.and_then(|f| f.field(name));
    html! {
        label for=(id) { (label) }
        select id=(id) name=(name) aria-invalid=[message.map(|_| "true")] {
            @for (v, l) in options {
                option value=(v) selected[*v == current] { (l) }
            }
        }
        @if let Some(m) = message { p.field-problem { (m) } }
    }
}

fn form(
    c: &Console,
    id: &str,
    action: &str,
    submit: &str,
    f: &MailboxFields,
    p: Option<&ApiFailure>,
    editing: bool,
) -> Markup {
    html! {
        form.stack id=(id) method="post" action=(action) {
            (layout::csrf_field(c.csrf()))
            (refusal(p))
            (input("Name", "name", "text", &f.name, p))
            (input("Address tickets are sent to", "address", "email", &f.address, p))
            (input("IMAP server", "host", "text", &f.host, p))
            (input("Port (empty: the TLS mode's usual one)", "port", "text", &f.port, p))
            (select("Encryption", "tls", &f.tls, &[("tls", "TLS (usually 993)"), ("starttls", "STARTTLS (usually 143)"), ("none", "None (local servers only)")], p))
            (input("User name", "username", "text", &f.username, p))
            @if editing {
                (input("Password (empty: keep the stored one)", "password", "password", "", p))
            } @else {
                (input("Password", "password", "password", "", p))
            }
            (input("Folder", "folder", "text", &f.folder, p))
            (select("Mail from unknown senders", "unknown_senders", &f.unknown_senders, &[("triage", "Open a ticket for triage"), ("quarantine", "Quarantine it")], p))
            (select("Replies to closed tickets", "closed_replies", &f.closed_replies, &[("new_ticket", "Open a new ticket"), ("reopen", "Reopen the ticket")], p))
            (select("Automated mail (out-of-office, lists, no-reply)", "automated_mail", &f.automated_mail, &[("ignore", "Ignore it (kept, listed below)"), ("accept", "Open tickets from it")], p))
            (checkbox("Enabled (polled for new mail)", "enabled", f.enabled.is_some()))
            button type="submit" { (submit) }
        }
    }
}

// ---------------------------------------------------------------- list

#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    #[serde(default)]
    cursor: String,
}

async fn list_page(
    c: &Console,
    p: &ListParams,
    refused: Option<(&MailboxFields, &ApiFailure)>,
) -> Result<Response, ApiFailure> {
    let boxes: Page<Mailbox> = c
        .api
        .get(format!(
            "/api/v1/mailboxes{}",
            query(&[("cursor", p.cursor.as_str())])
        ))
        .await?;
    let d = MailboxFields::new_default();
    let (f, e) = match refused {
        Some((f, e)) => (f, Some(e)),
        None => (&d, None),
    };
    let body = html! {
        (back())
        h1 { "Mailboxes" }
        @if boxes.data.is_empty() {
            p.muted { "No mailbox yet: tickets arrive by mail once one is connected." }
        } @else {
            div.scroll { table #mailboxes {
                thead { tr { th { "Name" } th { "Address" } th { "Server" } th { "Enabled" } th { "Last poll" } th { "Last error" } th { "Action" } } }
                tbody { @for m in &boxes.data {
                    tr id={ "mailbox-" (m.id) } {
                        td { a href={ (BASE) "/" (m.id) } { (m.name) } }
                        td { (m.address) }
                        td { (m.host) ":" (m.port) }
                        td { @if m.enabled { "yes" } @else { span.muted { "no" } } }
                        td { @match m.last_polled_at { Some(t) => (c.fmt.datetime(t)), None => span.muted { "never" } } }
                        td { @if let Some(err) = &m.last_error { span.bad { (err) } } }
                        td { (layout::post_button(&format!("{BASE}/{}/poll", m.id), c.csrf(), &format!("poll-{}", m.id), "Poll now")) }
                    }
                } }
            } }
        }
        (next_link(BASE, &[], boxes.next_cursor.as_deref()))
        section.card #new-mailbox aria-labelledby="new-mailbox-title" {
            h2 #new-mailbox-title { "Connect a mailbox" }
            (form(c, "new-mailbox-form", BASE, "Connect mailbox", f, e, false))
        }
    };
    let status = e.map(|e| e.status).unwrap_or(StatusCode::OK);
    Ok(c.page_with(status, Some(Section::Settings), "Mailboxes", body))
}

/// `GET /console/settings/mailboxes`.
pub async fn list(c: Console, Query(p): Query<ListParams>) -> Result<Response, ApiFailure> {
    list_page(&c, &p, None).await
}

/// `POST /console/settings/mailboxes`: connect a mailbox.
pub async fn create(c: Console, Form(f): Form<MailboxFields>) -> Result<Response, ApiFailure> {
    match c
        .api
        .send::<Mailbox>(Method::POST, "/api/v1/mailboxes", &f.body())
        .await
    {
        Ok(m) => Ok(see_other(&format!("{BASE}/{}", m.id))),
        Err(e) if e.is_validation() || e.status == StatusCode::CONFLICT => {
            list_page(&c, &ListParams::default(), Some((&f, &e))).await
        }
        Err(e) => Err(e),
    }
}

// ---------------------------------------------------------------- one mailbox

#[derive(Debug, Default, Deserialize)]
pub struct ShowParams {
    /// The connection test's job.
    #[serde(default)]
    test: String,
    #[serde(default)]
    quarantine_cursor: String,
    #[serde(default)]
    ignored_cursor: String,
    /// What "poll now" did (`queued`, `woke_running_poll`).
    #[serde(default)]
    polled: String,
    /// The job taking the mail.
    #[serde(default)]
    poll_job: String,
}

/// What "poll now" did, and its job as it is now.
fn poll_result(p: &ShowParams, job: Option<&JobRecord>) -> Markup {
    let what = match p.polled.as_str() {
        "woke_running_poll" => {
            "The poll listening on this mailbox was woken: it takes the new mail now."
        }
        "queued" => "A poll was queued: it takes the new mail when a worker picks it up.",
        _ => "A poll was asked for.",
    };
    html! {
        div.notice #poll-result role="status" data-polled=(p.polled) {
            p { (what) }
            @if let Some(j) = job {
                p {
                    "Job " code #poll-job { (j.id) } ": " span #poll-job-state { (j.state.as_str()) }
                    " · " a href={ "/admin/queues/jobs/" (j.id) } { "on the queue dashboard" }
                    " · " a href={ "?polled=" (p.polled) "&poll_job=" (j.id) "#poll" } { "Reload" }
                }
            }
        }
    }
}

/// What the connection test's job says.
fn test_result(c: &Console, j: &JobRecord) -> Markup {
    html! {
        @match j.state {
            JobState::Queued | JobState::Running | JobState::FailedWillRetry => {
                p.notice #test-result role="status" data-state=(j.state.as_str()) {
                    "Testing the connection (" (j.state.as_str()) ")… "
                    a href={ "?test=" (j.id) } { "Reload" } " in a moment to see the result."
                }
            }
            JobState::Succeeded => {
                div.notice #test-result role="status" data-state=(j.state.as_str()) {
                    p { strong { "Connected." } " The server was reached, the login accepted and the folder opened"
                        @if let Some(when) = j.finished_at { " (" (c.fmt.datetime(when)) ")" } "." }
                    @if let Some(r) = &j.result {
                        dl.figures {
                            @if let Some(n) = r.get("messages").and_then(Value::as_u64) { dt { "Messages in the folder" } dd { (n) } }
                            @if let Some(i) = r.get("idle").and_then(Value::as_bool) { dt { "Push (IDLE)" } dd { @if i { "supported" } @else { "not supported: polled" } } }
                        }
                    }
                }
            }
            JobState::Dead | JobState::Cancelled => {
                div.problem #test-result role="alert" data-state=(j.state.as_str()) {
                    p { strong { "The connection failed." } }
                    p { (j.last_error.as_deref().unwrap_or("no reason was recorded")) }
                }
            }
        }
    }
}

fn held_table(c: &Console, id: MailboxId, kind: &str, page: &Page<InboundMessage>) -> Markup {
    html! {
        @if page.data.is_empty() {
            p.muted { "None." }
        } @else {
            div.scroll { table id={ (kind) "-messages" } {
                thead { tr { th { "Received" } th { "From" } th { "Subject" } th { "Why" } th { "Tries" } th { "Action" } } }
                tbody { @for m in &page.data {
                    tr id={ (kind) "-" (m.id) } {
                        td { (c.fmt.datetime(m.received_at)) }
                        td { (m.from_address.as_deref().unwrap_or("–")) }
                        td { (m.subject.as_deref().unwrap_or("–")) }
                        td { (m.reason.as_deref().or(m.automated.as_deref()).unwrap_or("–")) }
                        td.n { (m.attempts) }
                        td { (layout::post_button(&format!("{BASE}/{id}/{kind}/{}/reprocess", m.id), c.csrf(), &format!("reprocess-{}", m.id), "Reprocess")) }
                    }
                } }
            } }
        }
    }
}

async fn mailbox_page(
    c: &Console,
    id: &str,
    p: &ShowParams,
    refused: Option<(&MailboxFields, &ApiFailure)>,
) -> Result<Response, ApiFailure> {
    let id: MailboxId = parse_id(c, id, "mailbox")?;
    let m: Mailbox = c.api.get(format!("/api/v1/mailboxes/{id}")).await?;
    let test = match p.test.parse::<JobId>() {
        Ok(job) => Some(
            c.api
                .get::<JobRecord>(format!("/api/v1/jobs/{job}"))
                .await?,
        ),
        Err(_) => None,
    };
    let (quarantine, ignored) = tokio::join!(
        c.api.get::<Page<InboundMessage>>(format!(
            "/api/v1/mailboxes/{id}/quarantine{}",
            query(&[("cursor", p.quarantine_cursor.as_str())])
        )),
        c.api.get::<Page<InboundMessage>>(format!(
            "/api/v1/mailboxes/{id}/ignored{}",
            query(&[("cursor", p.ignored_cursor.as_str())])
        )),
    );
    let (quarantine, ignored) = (quarantine?, ignored?);
    let poll_job = match p.poll_job.parse::<JobId>() {
        Ok(job) => Some(
            c.api
                .get::<JobRecord>(format!("/api/v1/jobs/{job}"))
                .await?,
        ),
        Err(_) => None,
    };
    let own = MailboxFields::of(&m);
    let (f, e) = match refused {
        Some((f, e)) => (f, Some(e)),
        None => (&own, None),
    };
    let base = format!("{BASE}/{id}");
    let body = html! {
        p { a href=(BASE) { "← Mailboxes" } }
        h1 { (m.name) " " span.muted { "<" (m.address) ">" } }
        div.grid {
            section.card #state aria-labelledby="state-title" {
                h2 #state-title { "State" }
                dl.figures {
                    dt { "Server" } dd { (m.host) ":" (m.port) " (" (m.tls.as_str()) ")" }
                    dt { "Folder" } dd { (m.folder) }
                    dt { "Enabled" } dd { @if m.enabled { "yes" } @else { "no" } }
                    dt { "Last poll" } dd { @match m.last_polled_at { Some(t) => (c.fmt.datetime(t)), None => "never" } }
                    dt { "Last error" } dd #last-error { (m.last_error.as_deref().unwrap_or("–")) }
                }
            }
            section.card #test aria-labelledby="test-title" {
                h2 #test-title { "Connection test" }
                p.muted { "Connects, logs in and opens the folder, in the background." }
                @if let Some(j) = &test { (test_result(c, j)) }
                (layout::post_button(&format!("{base}/test"), c.csrf(), "test-connection", "Test the connection"))
            }
            section.card #poll aria-labelledby="poll-title" {
                h2 #poll-title { "Poll now" }
                p.muted { "Takes new mail now instead of at the next scheduled poll." }
                @if !p.polled.is_empty() { (poll_result(p, poll_job.as_ref())) }
                (layout::post_button(&format!("{base}/poll"), c.csrf(), "poll-now", "Poll now"))
            }
            section.card #remove aria-labelledby="remove-title" {
                h2 #remove-title { "Remove" }
                p.muted { "Its tickets and the messages it took stay." }
                (layout::post_button(&format!("{base}/delete"), c.csrf(), "delete-mailbox", "Remove this mailbox"))
            }
        }
        section.card #quarantine aria-labelledby="quarantine-title" {
            h2 #quarantine-title { "Quarantine " span.muted { "(" (quarantine.total) ")" } }
            p.muted { "Messages that could not be processed. Fix the cause (a contact, the policy), then reprocess." }
            (held_table(c, id, "quarantine", &quarantine))
            @if let Some(next) = &quarantine.next_cursor {
                p { a #quarantine-next href={ (base) (query(&[("quarantine_cursor", next.as_str()), ("ignored_cursor", p.ignored_cursor.as_str())])) } { "More quarantined messages" } }
            }
        }
        section.card #ignored aria-labelledby="ignored-title" {
            h2 #ignored-title { "Ignored automated mail " span.muted { "(" (ignored.total) ")" } }
            p.muted { "Out-of-office answers, bounces and list mail that answered no ticket. Reprocessing opens a ticket from it." }
            (held_table(c, id, "ignored", &ignored))
            @if let Some(next) = &ignored.next_cursor {
                p { a #ignored-next href={ (base) (query(&[("ignored_cursor", next.as_str()), ("quarantine_cursor", p.quarantine_cursor.as_str())])) } { "More ignored messages" } }
            }
        }
        section.card #edit aria-labelledby="edit-title" {
            h2 #edit-title { "Edit" }
            (form(c, "edit-mailbox", &base, "Save mailbox", f, e, true))
        }
    };
    let status = e.map(|e| e.status).unwrap_or(StatusCode::OK);
    Ok(c.page_with(status, Some(Section::Settings), &m.name, body))
}

/// `GET /console/settings/mailboxes/{id}`.
pub async fn show(
    c: Console,
    Path(id): Path<String>,
    Query(p): Query<ShowParams>,
) -> Result<Response, ApiFailure> {
    mailbox_page(&c, &id, &p, None).await
}

/// `POST /console/settings/mailboxes/{id}`: the edit form.
pub async fn update(
    c: Console,
    Path(id): Path<String>,
    Form(f): Form<MailboxFields>,
) -> Result<Response, ApiFailure> {
    let mid: MailboxId = parse_id(&c, &id, "mailbox")?;
    match c
        .api
        .send::<Mailbox>(Method::PATCH, format!("/api/v1/mailboxes/{mid}"), &f.body())
        .await
    {
        Ok(_) => Ok(see_other(&format!("{BASE}/{mid}"))),
        Err(e) if e.is_validation() || e.status == StatusCode::CONFLICT => {
            mailbox_page(&c, &id, &ShowParams::default(), Some((&f, &e))).await
        }
        Err(e) => Err(e),
    }
}

/// `POST /console/settings/mailboxes/{id}/delete`.
pub async fn delete(
    c: Console,
    Path(id): Path<String>,
    Form(NoFields {}): Form<NoFields>,
) -> Result<Response, ApiFailure> {
    let id: MailboxId = parse_id(&c, &id, "mailbox")?;
    c.api
        .bytes(
            Method::DELETE,
            format!("/api/v1/mailboxes/{id}"),
            crate::api_client::ApiBody::Empty,
            None,
        )
        .await?;
    Ok(see_other(BASE))
}

/// `POST /console/settings/mailboxes/{id}/test`: queues the test, then the
/// mailbox's page follows its job.
pub async fn test(
    c: Console,
    Path(id): Path<String>,
    Form(NoFields {}): Form<NoFields>,
) -> Result<Response, ApiFailure> {
    let id: MailboxId = parse_id(&c, &id, "mailbox")?;
    let q: Queued = c
        .api
        .send_empty(Method::POST, format!("/api/v1/mailboxes/{id}/test"))
        .await?;
    Ok(see_other(&format!("{BASE}/{id}?test={}#test", q.job_id)))
}

/// `POST /console/settings/mailboxes/{id}/poll`: poll now, then the
/// mailbox's page says what the API did.
pub async fn poll(
    c: Console,
    Path(id): Path<String>,
    Form(NoFields {}): Form<NoFields>,
) -> Result<Response, ApiFailure> {
    let id: MailboxId = parse_id(&c, &id, "mailbox")?;
    let a: PollAnswer = c
        .api
        .send_empty(Method::POST, format!("/api/v1/mailboxes/{id}/poll"))
        .await?;
    let job = a.job_id.map(|j| j.to_string()).unwrap_or_default();
    let q = query(&[("polled", a.polled.as_str()), ("poll_job", job.as_str())]);
    Ok(see_other(&format!("{BASE}/{id}{q}#poll")))
}

async fn reprocess(
    c: Console,
    id: &str,
    message: &str,
    kind: &str,
) -> Result<Response, ApiFailure> {
    let id: MailboxId = parse_id(&c, id, "mailbox")?;
    let message: InboundId = parse_id(&c, message, "message")?;
    match c
        .api
        .send_empty::<Queued>(
            Method::POST,
            format!("/api/v1/mailboxes/{id}/{kind}/{message}/reprocess"),
        )
        .await
    {
        Ok(_) => Ok(see_other(&format!("{BASE}/{id}#{kind}"))),
        // Processed meanwhile: the page shows where it is now.
        Err(e) if e.status == StatusCode::CONFLICT => Ok(see_other(&format!("{BASE}/{id}#{kind}"))),
        Err(e) => Err(e),
    }
}

/// `POST /console/settings/mailboxes/{id}/quarantine/{message}/reprocess`.
pub async fn reprocess_quarantined(
    c: Console,
    Path((id, message)): Path<(String, String)>,
    Form(NoFields {}): Form<NoFields>,
) -> Result<Response, ApiFailure> {
    reprocess(c, &id, &message, "quarantine").await
}

/// `POST /console/settings/mailboxes/{id}/ignored/{message}/reprocess`.
pub async fn reprocess_ignored(
    c: Console,
    Path((id, message)): Path<(String, String)>,
    Form(NoFields {}): Form<NoFields>,
) -> Result<Response, ApiFailure> {
    reprocess(c, &id, &message, "ignored").await
}
