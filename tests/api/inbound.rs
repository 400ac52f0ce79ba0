//! Mail to tickets against a real Dovecot: the fixture set, polling twice
//! and at once, a killed worker, the \Seen flag, UIDVALIDITY changes,
//! loops, threading across tenants, replies through the SMTP sink, the
//! quarantine, and IDLE.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use nestogy_domain::platform::mail::{self, MailTemplate, NewMessage};
use nestogy_domain::service_desk::tickets::{
    self, MessageKind, NewMessageRecord, Priority, TicketDraft, TicketSource, TicketStatus,
};
use nestogy_domain::{MailboxId, TicketId};
use nestogy_jobs::mailboxes::Poll;
use serde_json::{Value, json};

use crate::common::{Proc, SmtpSink, Tenant, TestApp, eventually};
use crate::dovecot::{Dovecot, fill, mail_fixtures};

const SUPPORT: &str = "support@msp-a.test";
const IMAP_PASSWORD: &str = "imap-secret";

/// A tenant with a support mailbox on a private Dovecot and its outbound
/// mail going to an SMTP sink.
pub(crate) struct Desk {
    pub(crate) app: TestApp,
    pub(crate) t: Tenant,
    pub(crate) imap: Dovecot,
    pub(crate) sink: SmtpSink,
    pub(crate) mailbox: MailboxId,
}

impl Desk {
    pub(crate) async fn new() -> Desk {
        Desk::with(TestApp::new().await).await
    }

    /// The desk on `app` (one built with integrations of its own).
    pub(crate) async fn with(app: TestApp) -> Desk {
        let t = app.tenant("MSP A").await;
        let imap = Dovecot::start().await;
        imap.add_user(SUPPORT, IMAP_PASSWORD);
        let sink = SmtpSink::start("accept");
        let mut smtp = sink.settings();
        smtp["from_address"] = json!("help@msp-a.test");
        let r = app
            .call(
                Method::PUT,
                "/api/v1/company/smtp",
                Some(&t.admin),
                Some(smtp),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let r = app
            .post(
                "/api/v1/mailboxes",
                &t.admin,
                json!({"name": "Support", "address": SUPPORT, "host": "127.0.0.1", "port": imap.port,
                       "tls": "none", "username": SUPPORT, "password": IMAP_PASSWORD}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        assert!(r.body.get("password").is_none() && r.body.get("password_enc").is_none());
        let mailbox = r.id().parse().expect("mailbox id");
        Desk {
            app,
            t,
            imap,
            sink,
            mailbox,
        }
    }

    pub(crate) async fn append(&self, raw: &[u8]) -> u32 {
        self.imap
            .append(SUPPORT, IMAP_PASSWORD, "INBOX", raw, false)
            .await
    }

    pub(crate) async fn poll(&self) -> Value {
        self.app
            .run_job(Poll {
                tenant: self.t.id,
                mailbox: self.mailbox,
                idle_secs: None,
            })
            .await
            .expect("poll")
    }

    pub(crate) async fn count(&self, sql: &str) -> i64 {
        self.app.count(sql).await
    }

    /// The inbound row of a UID: (outcome, ticket, reason).
    async fn outcome(&self, uid: u32) -> (String, Option<uuid::Uuid>, Option<String>) {
        sqlx::query_as(
            "SELECT outcome, ticket_id, reason FROM inbound_messages WHERE mailbox_id = $1 AND uid = $2 \
             ORDER BY processed_at DESC LIMIT 1",
        )
        .bind(self.mailbox)
        .bind(i64::from(uid))
        .fetch_one(&self.app.owner)
        .await
        .unwrap_or_else(|e| panic!("no inbound row for uid {uid}: {e}"))
    }

    async fn acks_for(&self, ticket: uuid::Uuid) -> i64 {
        sqlx::query_scalar(
            "SELECT count(*) FROM mail_messages WHERE template = 'ticket_acknowledgement' AND subject_id = $1",
        )
        .bind(ticket)
        .fetch_one(&self.app.owner)
        .await
        .expect("count")
    }
}

pub(crate) fn message(from: &str, subject: &str, body: &str, extra: &str) -> Vec<u8> {
    let id = uuid::Uuid::now_v7().simple().to_string();
    format!(
        "From: {from}\r\nTo: {SUPPORT}\r\nSubject: {subject}\r\nDate: Tue, 24 Nov 2026 10:00:00 +0100\r\n\
         Message-ID: <{id}@mua.example>\r\n{extra}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// The raw bytes of the sink's `n`th message (0-based).
fn sink_raw(sink: &SmtpSink, n: usize) -> Vec<u8> {
    std::fs::read(sink.dir.join(format!("{}.eml", n + 1))).expect("sink message")
}

fn header(raw: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    text.lines()
        .find(|l| {
            l.len() > name.len() + 1
                && l[..name.len()].eq_ignore_ascii_case(name)
                && l.as_bytes()[name.len()] == b':'
        })
        .map(|l| l[name.len() + 1..].trim().to_owned())
}

/// The seeded world of the fixture manifest: clients, contacts, the three
/// tickets and another tenant's ticket; returns the placeholder values and
/// the seeded tickets by name.
async fn seed(
    d: &Desk,
) -> (
    HashMap<&'static str, String>,
    HashMap<&'static str, TicketId>,
) {
    let app = &d.app;
    let acme = app
        .post(
            "/api/v1/clients",
            &d.t.admin,
            json!({"name": "Acme Corp", "email_domains": ["acme.example"]}),
        )
        .await
        .id();
    let globex = app
        .post(
            "/api/v1/clients",
            &d.t.admin,
            json!({"name": "Globex", "email_domains": ["globex.example"]}),
        )
        .await
        .id();
    let alice = app
        .post(
            &format!("/api/v1/clients/{acme}/contacts"),
            &d.t.admin,
            json!({"name": "Alice Example", "email": "alice@acme.example"}),
        )
        .await
        .id();
    let bob = app
        .post(
            &format!("/api/v1/clients/{globex}/contacts"),
            &d.t.admin,
            json!({"name": "Bob Globex", "email": "bob@globex.example"}),
        )
        .await
        .id();
    let mut tx = app.db.tenant(d.t.id).await.expect("tx");
    let new_ticket = async |tx: &mut nestogy_domain::TenantTx,
                            subject: &str,
                            client: &str,
                            contact: &str,
                            email: &str| {
        tickets::insert(
            tx,
            TicketDraft {
                subject: subject.into(),
                client_id: Some(client.parse().expect("id")),
                contact_id: Some(contact.parse().expect("id")),
                asset_id: None,
                requester_email: Some(email.into()),
                requester_name: None,
                priority: Priority::Medium,
                assignee_id: None,
                source: TicketSource::Email,
                tags: vec![],
                mailbox_id: Some(d.mailbox),
                linked_ticket_id: None,
            },
            None,
        )
        .await
        .expect("ticket")
    };
    let t1 = new_ticket(
        &mut tx,
        "Printer on fire",
        &acme,
        &alice,
        "alice@acme.example",
    )
    .await;
    let t2 = new_ticket(
        &mut tx,
        "VPN drops every hour",
        &globex,
        &bob,
        "bob@globex.example",
    )
    .await;
    let t3 = new_ticket(&mut tx, "Old laptop", &acme, &alice, "alice@acme.example").await;
    tickets::add_message(
        &mut tx,
        &t1,
        NewMessageRecord {
            kind: MessageKind::Incoming,
            author_id: None,
            from_address: Some("alice@acme.example".into()),
            from_name: None,
            body: "The printer is on fire.".into(),
            full_body: "The printer is on fire.".into(),
            message_id: Some("<t1-original@acme.example>".into()),
            inbound_id: None,
            mail_id: None,
            automated: None,
        },
    )
    .await
    .expect("message");
    tickets::set_status(&mut tx, t1.id, TicketStatus::Open, None)
        .await
        .expect("open");
    tickets::set_status(&mut tx, t2.id, TicketStatus::Resolved, None)
        .await
        .expect("resolve");
    tickets::set_status(&mut tx, t3.id, TicketStatus::Closed, None)
        .await
        .expect("close");
    let ack = async |tx: &mut nestogy_domain::TenantTx, t: &tickets::Ticket, to: &str| {
        mail::create_or_get(
            tx,
            NewMessage {
                dedupe_key: format!("ticket:{}:ack", t.id),
                template: MailTemplate::TicketAcknowledgement,
                subject_kind: Some("ticket"),
                subject_id: Some(t.id.as_uuid()),
                params: json!({}),
                recipients: vec![to.into()],
                subject: format!("{} {}", t.token, t.subject),
            },
            "msp-a.test",
        )
        .await
        .expect("ack")
        .0
        .message_id
    };
    let t1_ack = ack(&mut tx, &t1, "alice@acme.example").await;
    let t2_ack = ack(&mut tx, &t2, "bob@globex.example").await;
    tx.commit().await.expect("commit");

    let other = d.app.tenant("MSP B").await;
    let mut tx = app.db.tenant(other.id).await.expect("tx");
    let foreign = tickets::insert(
        &mut tx,
        TicketDraft {
            subject: "Elsewhere".into(),
            client_id: None,
            contact_id: None,
            asset_id: None,
            requester_email: None,
            requester_name: None,
            priority: Priority::Low,
            assignee_id: None,
            source: TicketSource::Api,
            tags: vec![],
            mailbox_id: None,
            linked_ticket_id: None,
        },
        None,
    )
    .await
    .expect("foreign ticket");
    tx.commit().await.expect("commit");

    let values = HashMap::from([
        ("T1_ACK_MSGID", t1_ack),
        ("T1_TOKEN", t1.token.clone()),
        ("T2_ACK_MSGID", t2_ack),
        ("T2_TOKEN", t2.token.clone()),
        ("T3_TOKEN", t3.token.clone()),
        ("OTHER_TENANT_TOKEN", foreign.token.clone()),
    ]);
    let named = HashMap::from([("T1", t1.id), ("T2", t2.id), ("T3", t3.id)]);
    (values, named)
}

#[tokio::test]
async fn every_fixture_becomes_exactly_what_its_manifest_says() {
    let d = Desk::new().await;
    // Many fixtures come from the same few senders: lift the per-sender
    // limit, which a test of its own covers.
    let r = d
        .app
        .patch(
            "/api/v1/company",
            &d.t.admin,
            json!({"settings": {"acknowledgements_per_sender_hour": 1000}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let (values, named) = seed(&d).await;
    let fixtures = mail_fixtures();
    assert!(fixtures.len() >= 60, "{} fixtures", fixtures.len());
    let raws: Vec<Vec<u8>> = fixtures.iter().map(|f| fill(&f.raw, &values)).collect();
    let uids = d
        .imap
        .append_many(SUPPORT, IMAP_PASSWORD, "INBOX", &raws)
        .await;
    let report = d.poll().await;
    assert_eq!(report["fetched"], json!(fixtures.len()), "{report}");

    let mut failures = Vec::new();
    for (f, uid) in fixtures.iter().zip(&uids) {
        let e = &f.expect;
        let (outcome, ticket, reason) = d.outcome(*uid).await;
        let want = e["expect"].as_str().expect("expect");
        let got = match outcome.as_str() {
            "ticket" => "new_ticket",
            "quarantined" => "quarantine",
            other => other,
        };
        if got != want {
            failures.push(format!(
                "{}: expected {want}, got {outcome} ({reason:?})",
                f.file
            ));
            continue;
        }
        if want == "ignored" {
            // No ticket; the reason names the robot signal, the automated
            // column its kind.
            let automated: Option<String> = sqlx::query_scalar(
                "SELECT automated FROM inbound_messages WHERE mailbox_id = $1 AND uid = $2",
            )
            .bind(d.mailbox)
            .bind(i64::from(*uid))
            .fetch_one(&d.app.owner)
            .await
            .expect("automated");
            if automated.as_deref() != e["reason_contains"].as_str()
                || ticket.is_some()
                || !reason
                    .as_deref()
                    .is_some_and(|r| r.contains("without a ticket"))
            {
                failures.push(format!(
                    "{}: ignored as {automated:?} ({reason:?}), expected {}",
                    f.file, e["reason_contains"]
                ));
            }
            continue;
        }
        if want == "quarantine" {
            if let Some(r) = e["reason_contains"].as_str() {
                let reason = reason.clone().unwrap_or_default().to_lowercase();
                if !reason.contains(&r.to_lowercase()) {
                    failures.push(format!("{}: reason {reason:?} lacks {r:?}", f.file));
                }
            }
            continue;
        }
        let ticket = ticket.expect("ticket id");
        if want == "reply" {
            let expected = named[e["ticket"].as_str().expect("ticket name")];
            if ticket != expected.as_uuid() {
                failures.push(format!("{}: reply landed on the wrong ticket", f.file));
            }
            if e["reopens"].as_bool() == Some(true) {
                let status: String = sqlx::query_scalar("SELECT status FROM tickets WHERE id = $1")
                    .bind(ticket)
                    .fetch_one(&d.app.owner)
                    .await
                    .expect("status");
                if status != "open" {
                    failures.push(format!("{}: T2 not reopened ({status})", f.file));
                }
            }
        } else {
            let row: (Option<String>, Option<String>, Option<uuid::Uuid>) = sqlx::query_as(
                "SELECT c.name, k.email, t.linked_ticket_id FROM tickets t \
                 LEFT JOIN clients c ON c.id = t.client_id LEFT JOIN contacts k ON k.id = t.contact_id \
                 WHERE t.id = $1",
            )
            .bind(ticket)
            .fetch_one(&d.app.owner)
            .await
            .expect("ticket row");
            if e.get("client").is_some() && row.0.as_deref() != e["client"].as_str() {
                failures.push(format!(
                    "{}: client {:?}, expected {}",
                    f.file, row.0, e["client"]
                ));
            }
            if e.get("contact").is_some() && row.1.as_deref() != e["contact"].as_str() {
                failures.push(format!(
                    "{}: contact {:?}, expected {}",
                    f.file, row.1, e["contact"]
                ));
            }
            if let Some(linked) = e["linked_to"].as_str()
                && row.2 != Some(named[linked].as_uuid())
            {
                failures.push(format!("{}: not linked to {linked}", f.file));
            }
            let acks = d.acks_for(ticket).await;
            let want_ack = e["acknowledged"].as_bool().unwrap_or(false);
            if want_ack {
                let (to, subject): (Vec<String>, String) = sqlx::query_as(
                    "SELECT recipients, subject FROM mail_messages \
                     WHERE template = 'ticket_acknowledgement' AND subject_id = $1",
                )
                .bind(ticket)
                .fetch_one(&d.app.owner)
                .await
                .expect("acknowledgement");
                if let Some(want) = e["ack_to"].as_str()
                    && to != [want]
                {
                    failures.push(format!(
                        "{}: acknowledged to {to:?}, expected {want}",
                        f.file
                    ));
                }
                if let Some(want) = e["ack_subject_contains"].as_str()
                    && !subject.contains(want)
                {
                    failures.push(format!("{}: acknowledgement subject {subject:?}", f.file));
                }
                if subject.contains('\u{fffd}') {
                    failures.push(format!(
                        "{}: undecoded acknowledgement subject {subject:?}",
                        f.file
                    ));
                }
            }
            if (acks == 1) != want_ack || acks > 1 {
                failures.push(format!(
                    "{}: {acks} acknowledgements, expected {want_ack}",
                    f.file
                ));
            }
            if let Some(s) = e["subject_contains"].as_str() {
                let subject: String =
                    sqlx::query_scalar("SELECT subject FROM tickets WHERE id = $1")
                        .bind(ticket)
                        .fetch_one(&d.app.owner)
                        .await
                        .expect("subject");
                if !subject.contains(s) {
                    failures.push(format!("{}: subject {subject:?} lacks {s:?}", f.file));
                }
            }
        }
        let (body, attachments, names): (String, i64, Vec<String>) = sqlx::query_as(
            "SELECT m.body, (SELECT count(*) FROM ticket_attachments a WHERE a.message_id = m.id), \
             ARRAY(SELECT a.filename FROM ticket_attachments a WHERE a.message_id = m.id \
                   ORDER BY a.created_at, a.id) \
             FROM ticket_messages m JOIN inbound_messages i ON i.id = m.inbound_id \
             WHERE i.mailbox_id = $1 AND i.uid = $2",
        )
        .bind(d.mailbox)
        .bind(i64::from(*uid))
        .fetch_one(&d.app.owner)
        .await
        .unwrap_or_else(|e| panic!("{}: no message stored: {e}", f.file));
        for s in e["text_contains"].as_array().into_iter().flatten() {
            let s = s.as_str().unwrap_or_default();
            if !body.contains(s) {
                failures.push(format!("{}: text lacks {s:?}: {body:?}", f.file));
            }
        }
        for s in e["text_excludes"].as_array().into_iter().flatten() {
            let s = s.as_str().unwrap_or_default();
            if body.contains(s) {
                failures.push(format!("{}: new text keeps the quote {s:?}", f.file));
            }
        }
        if let Some(want) = e["attachment_names"].as_array() {
            let want: Vec<&str> = want.iter().filter_map(|n| n.as_str()).collect();
            if names != want {
                failures.push(format!(
                    "{}: attachments named {names:?}, expected {want:?}",
                    f.file
                ));
            }
        }
        if let Some(n) = e["attachments"].as_i64()
            && attachments != n
        {
            failures.push(format!(
                "{}: {attachments} attachments, expected {n}",
                f.file
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures wrong:\n{}",
        failures.len(),
        fixtures.len(),
        failures.join("\n")
    );
    // Every message exactly once, and its raw bytes kept.
    assert_eq!(
        d.count("SELECT count(*) FROM inbound_messages").await,
        fixtures.len() as i64
    );
    let keys: Vec<String> = sqlx::query_scalar("SELECT raw_key FROM inbound_messages")
        .fetch_all(&d.app.owner)
        .await
        .expect("keys");
    for k in keys {
        assert!(
            d.app.services.files.exists(&k).await.expect("exists"),
            "{k}"
        );
    }
    // Every acknowledgement goes out as RFC 3834 asks: a null envelope
    // sender, to the address in the registry (the Return-Path's).
    let acks: Vec<(Vec<String>, String)> = sqlx::query_as(
        "SELECT recipients, message_id FROM mail_messages WHERE template = 'ticket_acknowledgement' \
         AND params ? 'null_sender'",
    )
    .fetch_all(&d.app.owner)
    .await
    .expect("acks");
    assert!(acks.len() > 40, "{} acknowledgements", acks.len());
    let worker = d.app.start_worker();
    eventually("every acknowledgement delivered or failed", Duration::from_secs(60), || async {
        d.count("SELECT count(*) FROM mail_messages WHERE status = 'queued' AND params ? 'null_sender'")
            .await
            == 0
    })
    .await;
    worker.stop().await;
    let failed: Vec<(Vec<String>, Option<String>)> = sqlx::query_as(
        "SELECT recipients, last_response FROM mail_messages WHERE status <> 'sent' \
         AND params ? 'null_sender'",
    )
    .fetch_all(&d.app.owner)
    .await
    .expect("failed");
    assert!(failed.is_empty(), "not sent: {failed:?}");
    let sent = d.sink.messages();
    for (to, message_id) in &acks {
        let m = sent
            .iter()
            .find(|m| m["message_id"].as_str() == Some(message_id.as_str()))
            .unwrap_or_else(|| panic!("{message_id} not at the sink"));
        assert_eq!(m["mail_from"], json!("<>"), "MAIL FROM:<> for {to:?}: {m}");
        assert_eq!(m["rcpt_tos"], json!(to), "{m}");
    }
    // A koi8-r name downloads under its name (RFC 6266 filename*).
    let (ticket, attachment): (uuid::Uuid, uuid::Uuid) = sqlx::query_as(
        "SELECT ticket_id, id FROM ticket_attachments WHERE filename = 'Счет на оплату 17 марта.pdf'",
    )
    .fetch_one(&d.app.owner)
    .await
    .expect("the koi8-r attachment");
    let (status, headers, _) = d
        .app
        .get_bytes(
            &format!("/api/v1/tickets/{ticket}/attachments/{attachment}"),
            &d.t.admin,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let disposition = headers["content-disposition"].to_str().expect("ascii");
    assert!(
        disposition.ends_with(
            "filename*=UTF-8''%D0%A1%D1%87%D0%B5%D1%82%20%D0%BD%D0%B0%20%D0%BE%D0%BF%D0%BB%D0%B0%D1%82%D1%83%2017%20%D0%BC%D0%B0%D1%80%D1%82%D0%B0.pdf"
        ),
        "{disposition}"
    );
    let phishing = sent
        .iter()
        .find(|m| {
            m["subject"]
                .as_str()
                .is_some_and(|s| s.contains("Updated bank details"))
        })
        .expect("the phishing mail's acknowledgement");
    assert_eq!(
        phishing["rcpt_tos"],
        json!(["alice@acme.example"]),
        "never the Reply-To"
    );
    assert!(
        sent.iter()
            .any(|m| m["rcpt_tos"] == json!(["\"system administrator\"@oldcorp.example"])),
        "the quoted local part is answered"
    );
    assert!(
        sent.iter().any(|m| m["subject"]
            .as_str()
            .is_some_and(|s| s.contains("Не работает принтер"))),
        "the cp1251 subject went out decoded"
    );
}

#[tokio::test]
async fn polling_twice_or_twice_at_once_takes_each_message_once_and_never_sets_seen() {
    let d = Desk::new().await;
    let raws: Vec<Vec<u8>> = (0..120)
        .map(|i| {
            message(
                &format!("user{i}@somewhere.example"),
                &format!("Help {i}"),
                "Please help.",
                "",
            )
        })
        .collect();
    d.imap
        .append_many(SUPPORT, IMAP_PASSWORD, "INBOX", &raws)
        .await;
    // Another mail client reads one of them first.
    d.imap.set_seen(SUPPORT, IMAP_PASSWORD, "INBOX", 7).await;
    let (a, b) = tokio::join!(d.poll(), d.poll());
    let taken = a["fetched"].as_u64().unwrap_or(0) + b["fetched"].as_u64().unwrap_or(0);
    assert!(taken >= 120, "{a} {b}");
    assert_eq!(d.count("SELECT count(*) FROM tickets").await, 120);
    let again = d.poll().await;
    assert_eq!(again["fetched"], json!(0), "{again}");
    assert_eq!(d.count("SELECT count(*) FROM tickets").await, 120);
    assert_eq!(d.count("SELECT count(*) FROM ticket_messages").await, 120);
    let (n, seen) = d.imap.status(SUPPORT, IMAP_PASSWORD, "INBOX").await;
    assert_eq!(n, 120);
    assert_eq!(seen, vec![7], "only the other client's \\Seen");
    let mb = d
        .app
        .get(&format!("/api/v1/mailboxes/{}", d.mailbox), &d.t.admin)
        .await;
    assert_eq!(mb.body["last_uid"], json!(120), "{}", mb.body);
    assert!(mb.body["last_error"].is_null());
}

#[tokio::test]
async fn a_new_uidvalidity_rescans_without_duplicating() {
    let d = Desk::new().await;
    for i in 0..5 {
        d.append(&message(
            "alice@acme.example",
            &format!("Issue {i}"),
            "Text",
            "",
        ))
        .await;
    }
    d.poll().await;
    assert_eq!(d.count("SELECT count(*) FROM tickets").await, 5);
    let before = d.imap.uidvalidity(SUPPORT, IMAP_PASSWORD, "INBOX").await;
    let after = d
        .imap
        .reset_uidvalidity(SUPPORT, IMAP_PASSWORD, "INBOX")
        .await;
    assert_ne!(before, after);
    d.append(&message("alice@acme.example", "Issue 5", "Text", ""))
        .await;
    let report = d.poll().await;
    assert_eq!(report["uidvalidity"], json!(after));
    assert_eq!(report["duplicates"], json!(5), "{report}");
    assert_eq!(report["tickets"], json!(1), "{report}");
    assert_eq!(d.count("SELECT count(*) FROM tickets").await, 6);
}

#[tokio::test]
async fn a_worker_killed_mid_batch_loses_and_duplicates_nothing() {
    let d = Desk::new().await;
    let raws: Vec<Vec<u8>> = (0..500)
        .map(|i| {
            message(
                &format!("p{i}@far.example"),
                &format!("Case {i}"),
                "Body",
                "",
            )
        })
        .collect();
    d.imap
        .append_many(SUPPORT, IMAP_PASSWORD, "INBOX", &raws)
        .await;
    let files = d.app.dir.join("files").display().to_string();
    let mut worker = Proc::spawn(
        &d.app,
        "worker",
        &[
            ("NESTOGY_SECRET_KEY", crate::common::TEST_SECRET_KEY),
            ("NESTOGY_OBJECT_STORE", files.as_str()),
        ],
    );
    let ctx = d.app.real_jobs();
    nestogy_jobs::enqueue(
        &ctx,
        &Poll {
            tenant: d.t.id,
            mailbox: d.mailbox,
            idle_secs: None,
        },
    )
    .await
    .expect("enqueue");
    // Kill it once the first batch is in and before the last one is.
    eventually("the first batch", Duration::from_secs(60), || async {
        d.count("SELECT count(*) FROM inbound_messages").await > 0
    })
    .await;
    worker.signal("KILL");
    worker.exit_status(Duration::from_secs(10)).await;
    let partial = d.count("SELECT count(*) FROM inbound_messages").await;
    assert!(
        partial < 500,
        "the worker finished before it was killed ({partial})"
    );
    // Whatever was in flight is redone by the next poll, once.
    d.poll().await;
    assert_eq!(d.count("SELECT count(*) FROM tickets").await, 500);
    assert_eq!(d.count("SELECT count(*) FROM inbound_messages").await, 500);
    assert_eq!(
        d.count("SELECT count(*) FROM (SELECT subject FROM tickets GROUP BY subject HAVING count(*) > 1) x")
            .await,
        0
    );
}

#[tokio::test]
async fn an_auto_reply_to_our_acknowledgement_gets_no_acknowledgement() {
    let d = Desk::new().await;
    d.append(&message(
        "carol@customer.example",
        "Server down",
        "It is down.",
        "",
    ))
    .await;
    d.poll().await;
    let (ticket, ack_id): (uuid::Uuid, String) = sqlx::query_as(
        "SELECT subject_id, message_id FROM mail_messages WHERE template = 'ticket_acknowledgement'",
    )
    .fetch_one(&d.app.owner)
    .await
    .expect("one acknowledgement");
    // Their out-of-office answers our acknowledgement.
    let ooo = message(
        "carol@customer.example",
        "Automatic reply: Server down",
        "I am out of the office until Monday.",
        &format!("In-Reply-To: {ack_id}\r\nAuto-Submitted: auto-replied\r\n"),
    );
    let uid = d.append(&ooo).await;
    // And a vacation responder that only says X-Autoreply, with no threading.
    d.append(&message(
        "dave@customer.example",
        "Away",
        "Away.",
        "X-Autoreply: yes\r\n",
    ))
    .await;
    d.poll().await;
    let (outcome, on, _) = d.outcome(uid).await;
    assert_eq!((outcome.as_str(), on), ("reply", Some(ticket)));
    assert_eq!(
        d.count("SELECT count(*) FROM mail_messages WHERE template = 'ticket_acknowledgement'")
            .await,
        1,
        "no acknowledgement of automated mail"
    );
    let status: String = sqlx::query_scalar("SELECT status FROM tickets WHERE id = $1")
        .bind(ticket)
        .fetch_one(&d.app.owner)
        .await
        .expect("status");
    assert_eq!(status, "new", "an auto-reply changes nothing");
}

#[tokio::test]
async fn acknowledgements_are_rate_limited_per_sender() {
    let d = Desk::new().await;
    for i in 0..8 {
        d.append(&message(
            "loud@customer.example",
            &format!("Thing {i}"),
            "x",
            "",
        ))
        .await;
    }
    d.poll().await;
    assert_eq!(d.count("SELECT count(*) FROM tickets").await, 8);
    assert_eq!(
        d.count("SELECT count(*) FROM mail_messages WHERE template = 'ticket_acknowledgement'")
            .await,
        nestogy_domain::identity::company::DEFAULT_ACKS_PER_SENDER_HOUR
    );
}

#[tokio::test]
async fn a_token_threads_only_within_its_tenant() {
    let d = Desk::new().await;
    let (values, named) = seed(&d).await;
    let ours = d
        .append(&message(
            "someone@else.example",
            &format!("AW: {} still broken", values["T1_TOKEN"]),
            "Still broken.",
            "",
        ))
        .await;
    let theirs = d
        .append(&message(
            "someone@else.example",
            &format!("AW: {} still broken", values["OTHER_TENANT_TOKEN"]),
            "Other.",
            "",
        ))
        .await;
    d.poll().await;
    let (o, t, _) = d.outcome(ours).await;
    assert_eq!((o.as_str(), t), ("reply", Some(named["T1"].as_uuid())));
    let (o, t, _) = d.outcome(theirs).await;
    assert_eq!(o, "ticket");
    assert_ne!(t, Some(named["T1"].as_uuid()));
    // The other tenant's ticket got nothing.
    assert_eq!(
        d.count("SELECT count(*) FROM ticket_messages m JOIN tickets t ON t.id = m.ticket_id WHERE t.subject = 'Elsewhere'")
            .await,
        0
    );
}

#[tokio::test]
async fn a_public_reply_is_threaded_and_the_answer_lands_on_the_same_ticket() {
    let d = Desk::new().await;
    let first = message(
        "alice@acme.example",
        "Laptop slow",
        "My laptop is slow.",
        "",
    );
    let first_id = header(&first, "Message-ID").expect("id");
    d.append(&first).await;
    d.poll().await;
    let ticket: String = sqlx::query_scalar("SELECT id::text FROM tickets")
        .fetch_one(&d.app.owner)
        .await
        .expect("ticket");
    let worker = d.app.start_worker();
    let r = d
        .app
        .post(
            &format!("/api/v1/tickets/{ticket}/messages"),
            &d.t.admin,
            json!({"kind": "reply", "body": "Please restart it."}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    // The acknowledgement and the reply.
    let sent = d.sink.wait_for(2).await;
    worker.stop().await;
    let n = sent
        .iter()
        .position(|m| m["subject"].as_str().is_some_and(|s| s.starts_with("Re:")))
        .expect("the reply at the sink");
    let raw = sink_raw(&d.sink, n);
    assert_eq!(
        header(&raw, "In-Reply-To").as_deref(),
        Some(first_id.as_str()),
        "{}",
        String::from_utf8_lossy(&raw)
    );
    assert!(header(&raw, "References").is_some_and(|r| r.contains(&first_id)));
    assert_eq!(header(&raw, "Reply-To").as_deref(), Some(SUPPORT));
    let our_id = header(&raw, "Message-ID").expect("our id");
    // Alice answers our reply, quoting it.
    let answer = message(
        "alice@acme.example",
        "Re: Laptop slow",
        "Restarted, works now.\r\n\r\nOn Tue, Nov 24, 2026 at 10:00 AM Support wrote:\r\n> Please restart it.",
        &format!("In-Reply-To: {our_id}\r\nReferences: {first_id} {our_id}\r\n"),
    );
    let uid = d.append(&answer).await;
    d.poll().await;
    let (o, t, _) = d.outcome(uid).await;
    assert_eq!(o, "reply");
    assert_eq!(t.map(|t| t.to_string()), Some(ticket.clone()));
    let msgs = d
        .app
        .get(&format!("/api/v1/tickets/{ticket}/messages"), &d.t.admin)
        .await;
    let last = msgs
        .body
        .as_array()
        .and_then(|a| a.last())
        .cloned()
        .expect("messages");
    assert_eq!(last["body"], json!("Restarted, works now."));
    assert!(
        last["full_body"]
            .as_str()
            .is_some_and(|b| b.contains("Please restart it."))
    );
}

#[tokio::test]
async fn the_sender_s_raw_header_names_the_ack_threading() {
    let d = Desk::new().await;
    let first = message("alice@acme.example", "Mouse", "Broken mouse.", "");
    let first_id = header(&first, "Message-ID").expect("id");
    d.append(&first).await;
    d.poll().await;
    let worker = d.app.start_worker();
    let sent = d.sink.wait_for(1).await;
    worker.stop().await;
    assert_eq!(sent.len(), 1);
    let raw = sink_raw(&d.sink, 0);
    assert_eq!(header(&raw, "In-Reply-To"), Some(first_id));
    assert_eq!(
        header(&raw, "Auto-Submitted").as_deref(),
        Some("auto-replied")
    );
    assert!(
        header(&raw, "Subject").is_some_and(|s| s.contains("[#1-")),
        "{}",
        String::from_utf8_lossy(&raw)
    );
}

#[tokio::test]
async fn unknown_senders_can_be_quarantined_and_reprocessed() {
    let d = Desk::new().await;
    let r = d
        .app
        .patch(
            &format!("/api/v1/mailboxes/{}", d.mailbox),
            &d.t.admin,
            json!({"unknown_senders": "quarantine"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let uid = d
        .append(&message("stranger@nowhere.example", "Hi", "Who am I?", ""))
        .await;
    d.append(b"this is not a mail message at all").await;
    d.poll().await;
    let (o, _, reason) = d.outcome(uid).await;
    assert_eq!(o, "quarantined");
    assert!(reason.unwrap_or_default().contains("unknown sender"));
    let q = d
        .app
        .get(
            &format!("/api/v1/mailboxes/{}/quarantine", d.mailbox),
            &d.t.admin,
        )
        .await;
    assert_eq!(q.body["total"], json!(2), "{}", q.body);
    let entry = q.body["data"]
        .as_array()
        .and_then(|a| a.iter().find(|m| m["uid"] == json!(uid)))
        .cloned()
        .expect("entry");
    // The client registers the stranger's domain; reprocessing opens a ticket.
    d.app
        .post(
            "/api/v1/clients",
            &d.t.admin,
            json!({"name": "Nowhere Inc", "email_domains": ["nowhere.example"]}),
        )
        .await;
    let r = d
        .app
        .post(
            &format!(
                "/api/v1/mailboxes/{}/quarantine/{}/reprocess",
                d.mailbox,
                entry["id"].as_str().unwrap()
            ),
            &d.t.admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let job: nestogy_domain::JobId = r.body["job_id"].as_str().unwrap().parse().unwrap();
    let worker = d.app.start_worker();
    eventually("the reprocess job", Duration::from_secs(30), || async {
        d.app.job_state(job).await.0 == "succeeded"
    })
    .await;
    worker.stop().await;
    let (o, t, _) = d.outcome(uid).await;
    assert_eq!(o, "ticket");
    let client: Option<String> = sqlx::query_scalar(
        "SELECT c.name FROM tickets t JOIN clients c ON c.id = t.client_id WHERE t.id = $1",
    )
    .bind(t)
    .fetch_optional(&d.app.owner)
    .await
    .expect("client");
    assert_eq!(client.as_deref(), Some("Nowhere Inc"));
    // Reprocessing what is no longer quarantined is refused.
    let again = d
        .app
        .post(
            &format!(
                "/api/v1/mailboxes/{}/quarantine/{}/reprocess",
                d.mailbox,
                entry["id"].as_str().unwrap()
            ),
            &d.t.admin,
            json!({}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    // The job itself, run again (at-least-once delivery), changes nothing.
    let rerun = d
        .app
        .run_job(nestogy_jobs::mailboxes::Reprocess {
            tenant: d.t.id,
            mailbox: d.mailbox,
            message: entry["id"].as_str().unwrap().parse().unwrap(),
            ignored: false,
        })
        .await
        .expect("rerun");
    assert_eq!(rerun["already"], json!(true), "{rerun}");
    assert_eq!(d.count("SELECT count(*) FROM tickets").await, 1);
}

#[tokio::test]
async fn the_minute_fan_out_enqueues_one_poll_per_mailbox_however_often_it_runs() {
    let d = Desk::new().await;
    let job = || nestogy_jobs::mailboxes::PollAll { tenant: d.t.id };
    let first = d.app.run_job(job()).await.expect("first");
    let second = d.app.run_job(job()).await.expect("second");
    assert_eq!(first["enqueued"], json!(1), "{first}");
    assert_eq!(second["enqueued"], json!(0), "{second}");
    assert_eq!(
        d.count("SELECT count(*) FROM jobs WHERE kind = 'mailboxes.poll'")
            .await,
        1
    );
}

#[tokio::test]
async fn idle_brings_new_mail_within_seconds() {
    let d = Desk::new().await;
    let ctx = d.app.jobs();
    let job = Poll {
        tenant: d.t.id,
        mailbox: d.mailbox,
        idle_secs: Some(20),
    };
    let meta = nestogy_jobs::JobMeta {
        id: nestogy_domain::JobId::new(),
        attempt: 1,
    };
    let running = tokio::spawn(async move { nestogy_jobs::Job::run(job, ctx, meta).await });
    // Give the poll time to enter IDLE: wait until it has polled once.
    eventually("the first poll", Duration::from_secs(10), || async {
        d.count("SELECT count(*) FROM mailboxes WHERE uidvalidity IS NOT NULL")
            .await
            == 1
    })
    .await;
    let sent_at = std::time::Instant::now();
    d.append(&message(
        "alice@acme.example",
        "Idle test",
        "Fast please.",
        "",
    ))
    .await;
    eventually("the ticket from IDLE", Duration::from_secs(10), || async {
        d.count("SELECT count(*) FROM tickets").await == 1
    })
    .await;
    println!(
        "IDLE delivered a ticket {:?} after APPEND",
        sent_at.elapsed()
    );
    running.abort();
}

#[tokio::test]
async fn mailbox_settings_are_validated_and_the_password_never_shown() {
    let d = Desk::new().await;
    let bad = d
        .app
        .post(
            "/api/v1/mailboxes",
            &d.t.admin,
            json!({"name": "", "address": "not-an-address", "host": "a b", "port": 0, "tls": "none",
                   "username": "", "password": ""}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    let fields: Vec<&str> = bad.body["error"]["details"]["fields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["field"].as_str())
        .collect();
    for f in ["name", "address", "host", "port", "username", "password"] {
        assert!(fields.contains(&f), "{f} missing in {}", bad.body);
    }
    // The same account and folder twice: refused.
    let dup = d
        .app
        .post(
            "/api/v1/mailboxes",
            &d.t.admin,
            json!({"name": "Again", "address": SUPPORT, "host": "127.0.0.1", "port": d.imap.port,
                   "tls": "none", "username": SUPPORT, "password": IMAP_PASSWORD}),
        )
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT, "{}", dup.body);
    let stored: Vec<u8> = sqlx::query_scalar("SELECT password_enc FROM mailboxes")
        .fetch_one(&d.app.owner)
        .await
        .expect("row");
    assert!(!String::from_utf8_lossy(&stored).contains(IMAP_PASSWORD));
    // The test job: a wrong password is a clear failure; the right one works.
    let worker = d.app.start_worker();
    let r = d
        .app
        .post(
            &format!("/api/v1/mailboxes/{}/test", d.mailbox),
            &d.t.admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let job: nestogy_domain::JobId = r.body["job_id"].as_str().unwrap().parse().unwrap();
    eventually("the test job", Duration::from_secs(30), || async {
        d.app.job_state(job).await.0 == "succeeded"
    })
    .await;
    d.app
        .patch(
            &format!("/api/v1/mailboxes/{}", d.mailbox),
            &d.t.admin,
            json!({"password": "wrong"}),
        )
        .await;
    let r = d
        .app
        .post(
            &format!("/api/v1/mailboxes/{}/test", d.mailbox),
            &d.t.admin,
            json!({}),
        )
        .await;
    let job: nestogy_domain::JobId = r.body["job_id"].as_str().unwrap().parse().unwrap();
    eventually("the failing test job", Duration::from_secs(30), || async {
        d.app.job_state(job).await.0 == "dead"
    })
    .await;
    worker.stop().await;
    let (_, _, err) = d.app.job_state(job).await;
    assert!(err.unwrap_or_default().contains("refused the login"));
}

/// The mailbox's last complete pass and last "poll now", database time.
pub(crate) async fn drained_and_requested(
    app: &TestApp,
    mailbox: MailboxId,
) -> (
    Option<chrono::DateTime<chrono::Utc>>,
    Option<chrono::DateTime<chrono::Utc>>,
) {
    sqlx::query_as("SELECT last_drained_at, poll_requested_at FROM mailboxes WHERE id = $1")
        .bind(mailbox)
        .fetch_one(&app.owner)
        .await
        .expect("mailbox")
}

#[tokio::test]
async fn automated_mail_is_ignored_listed_reprocessed_or_accepted() {
    let d = Desk::new().await;
    let ooo = d
        .append(&message(
            "carol@customer.example",
            "Out of office",
            "Back on Monday.",
            "Auto-Submitted: auto-replied\r\n",
        ))
        .await;
    let digest = d
        .append(&message(
            "users-request@lists.example",
            "Users Digest, Vol 1, Issue 2",
            "Today's topics",
            "X-Mailman-Version: 2.1.39\r\n",
        ))
        .await;
    let person = d
        .append(&message("dave@customer.example", "Printer", "Jammed.", ""))
        .await;
    let report = d.poll().await;
    assert_eq!(report["ignored"], json!(2), "{report}");
    assert_eq!(report["tickets"], json!(1), "{report}");
    for uid in [ooo, digest] {
        let (o, t, reason) = d.outcome(uid).await;
        assert_eq!((o.as_str(), t), ("ignored", None), "{reason:?}");
    }
    assert_eq!(d.outcome(person).await.0, "ticket");
    let listed = d
        .app
        .get(
            &format!("/api/v1/mailboxes/{}/ignored", d.mailbox),
            &d.t.admin,
        )
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(listed.body["total"], json!(2), "{}", listed.body);
    let reasons: Vec<String> = listed.body["data"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| format!("{} {}", m["automated"], m["reason"]))
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("auto_replied") && r.contains("Auto-Submitted")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("list_mail") && r.contains("X-Mailman-Version")),
        "{reasons:?}"
    );
    // The quarantine stays apart.
    let q = d
        .app
        .get(
            &format!("/api/v1/mailboxes/{}/quarantine", d.mailbox),
            &d.t.admin,
        )
        .await;
    assert_eq!(q.body["total"], json!(0), "{}", q.body);

    // A person reprocesses the out-of-office: a ticket, never answered.
    let entry = listed.body["data"]
        .as_array()
        .and_then(|a| a.iter().find(|m| m["uid"] == json!(ooo)))
        .cloned()
        .expect("the out-of-office");
    let path = format!(
        "/api/v1/mailboxes/{}/ignored/{}/reprocess",
        d.mailbox,
        entry["id"].as_str().expect("id")
    );
    let wrong = d
        .app
        .post(
            &format!(
                "/api/v1/mailboxes/{}/quarantine/{}/reprocess",
                d.mailbox,
                entry["id"].as_str().expect("id")
            ),
            &d.t.admin,
            json!({}),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::CONFLICT, "{}", wrong.body);
    let r = d.app.post(&path, &d.t.admin, json!({})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let job: nestogy_domain::JobId = r.body["job_id"].as_str().unwrap().parse().unwrap();
    let worker = d.app.start_worker();
    eventually("the reprocess job", Duration::from_secs(30), || async {
        d.app.job_state(job).await.0 == "succeeded"
    })
    .await;
    worker.stop().await;
    let (o, t, _) = d.outcome(ooo).await;
    assert_eq!(o, "ticket");
    let t = t.expect("ticket");
    assert_eq!(d.acks_for(t).await, 0, "automated mail is never answered");
    let again = d.app.post(&path, &d.t.admin, json!({})).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert_eq!(
        again.body["error"]["code"],
        json!("not_ignored"),
        "{}",
        again.body
    );

    // A mailbox that accepts automated mail opens tickets from it.
    let r = d
        .app
        .patch(
            &format!("/api/v1/mailboxes/{}", d.mailbox),
            &d.t.admin,
            json!({"automated_mail": "accept"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["automated_mail"], json!("accept"));
    let later = d
        .append(&message(
            "erin@customer.example",
            "Automatic reply",
            "Away.",
            "X-Autoreply: yes\r\n",
        ))
        .await;
    d.poll().await;
    let (o, t, _) = d.outcome(later).await;
    assert_eq!(o, "ticket");
    let tags: Vec<String> = sqlx::query_scalar("SELECT tags FROM tickets WHERE id = $1")
        .bind(t)
        .fetch_one(&d.app.owner)
        .await
        .expect("tags");
    assert_eq!(tags, vec!["automated".to_owned()]);
    assert_eq!(d.acks_for(t.expect("ticket")).await, 0);
}

/// A poll running in the background: its result and when it ended.
type Running = tokio::task::JoinHandle<(Result<Value, nestogy_jobs::JobError>, std::time::Instant)>;

/// A poll in IDLE for `idle_secs`, run as a worker would, with a stop
/// signal of its own.
fn idle_poll(
    d: &Desk,
    idle_secs: u64,
) -> (
    nestogy_domain::JobId,
    tokio::sync::watch::Sender<bool>,
    Running,
) {
    let (stop, rx) = tokio::sync::watch::channel(false);
    let mut ctx = d.app.jobs();
    ctx.stop = nestogy_jobs::Stopping::new(rx);
    let job = Poll {
        tenant: d.t.id,
        mailbox: d.mailbox,
        idle_secs: Some(idle_secs),
    };
    let id = nestogy_domain::JobId::new();
    let meta = nestogy_jobs::JobMeta { id, attempt: 1 };
    let running = tokio::spawn(async move {
        let r = nestogy_jobs::Job::run(job, ctx, meta).await;
        (r, std::time::Instant::now())
    });
    (id, stop, running)
}

#[tokio::test]
async fn poll_now_wakes_the_poll_listening_in_idle_and_stop_ends_its_wait_at_once() {
    let d = Desk::new().await;
    let (job, stop, running) = idle_poll(&d, 60);
    eventually("the poll's first pass", Duration::from_secs(10), || async {
        drained_and_requested(&d.app, d.mailbox).await.0.is_some()
    })
    .await;
    let (first, _) = drained_and_requested(&d.app, d.mailbox).await;
    // No new mail: only a wake-up can make the poll look again.
    let r = d
        .app
        .post(
            &format!("/api/v1/mailboxes/{}/poll", d.mailbox),
            &d.t.admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(r.body["polled"], json!("woke_running_poll"), "{}", r.body);
    assert_eq!(r.body["woke_running_poll"], json!(true));
    assert_eq!(
        r.body["job_id"],
        json!(job.as_uuid().to_string()),
        "{}",
        r.body
    );
    let asked = Instant::now();
    eventually(
        "the woken poll to look again",
        Duration::from_secs(5),
        || async {
            let (drained, requested) = drained_and_requested(&d.app, d.mailbox).await;
            drained > first && drained >= requested
        },
    )
    .await;
    println!(
        "poll now served by the running poll after {:?}",
        asked.elapsed()
    );
    assert!(!running.is_finished(), "it goes on listening");
    // And mail that arrives now is taken by the same poll.
    d.append(&message("alice@acme.example", "After the wake", "x", ""))
        .await;
    eventually("the ticket", Duration::from_secs(10), || async {
        d.count("SELECT count(*) FROM tickets").await == 1
    })
    .await;

    // The worker stops: the IDLE wait ends at once, the poll succeeds.
    let stopping = Instant::now();
    stop.send(true).expect("stop");
    let (result, ended) = running.await.expect("join");
    let report = result.expect("the poll succeeds");
    assert!(
        ended.duration_since(stopping) < Duration::from_secs(2),
        "{:?}",
        ended.duration_since(stopping)
    );
    assert_eq!(report["idle_ended"], json!("stop"), "{report}");
    assert!(report["drains"].as_u64() >= Some(2), "{report}");

    // Nobody listens now: poll now queues a poll.
    let r = d
        .app
        .post(
            &format!("/api/v1/mailboxes/{}/poll", d.mailbox),
            &d.t.admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(r.body["polled"], json!("queued"), "{}", r.body);
    assert_eq!(r.body["woke_running_poll"], json!(false));
    let queued: nestogy_domain::JobId = r.body["job_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(d.app.job_state(queued).await.0, "queued");
}

#[tokio::test]
async fn idle_ends_at_its_deadline_and_the_next_poll_takes_over_without_a_gap() {
    let d = Desk::new().await;
    // The deadline is kept to the moment.
    let started = Instant::now();
    let report = d
        .app
        .run_job(Poll {
            tenant: d.t.id,
            mailbox: d.mailbox,
            idle_secs: Some(2),
        })
        .await
        .expect("poll");
    let took = started.elapsed();
    assert_eq!(report["idle_ended"], json!("deadline"), "{report}");
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(4),
        "IDLE of 2 s took {took:?}"
    );

    // A scheduled poll listening past the next one's start hands over.
    let (before, _) = drained_and_requested(&d.app, d.mailbox).await;
    let (_, _stop, first) = idle_poll(&d, 90);
    eventually("the first poll's pass", Duration::from_secs(10), || async {
        drained_and_requested(&d.app, d.mailbox).await.0 > before
    })
    .await;
    let next = Poll {
        tenant: d.t.id,
        mailbox: d.mailbox,
        idle_secs: Some(3),
    };
    let app = &d.app;
    let (second, handed) = tokio::join!(app.run_job(next), async {
        // Mail arriving during the handover is taken by one of them.
        d.append(&message(
            "alice@acme.example",
            "During the handover",
            "x",
            "",
        ))
        .await;
        first.await.expect("join")
    });
    let second = second.expect("the next poll");
    let (first, first_ended) = handed;
    let first = first.expect("the first poll");
    assert_eq!(first["idle_ended"], json!("handover"), "{first}");
    assert!(second.get("skipped").is_none(), "{second}");
    assert_eq!(second["idle_ended"], json!("deadline"), "{second}");
    assert!(
        first_ended.elapsed() >= Duration::from_secs(2),
        "the first handed over at once, long before its deadline"
    );
    assert_eq!(d.count("SELECT count(*) FROM tickets").await, 1);
}

#[tokio::test]
async fn a_subject_that_did_not_decode_is_never_sent() {
    let d = Desk::new().await;
    // An encoded word whose bytes are not UTF-8: it decodes to U+FFFD.
    d.append(&message(
        "alice@acme.example",
        "=?utf-8?B?/w==?= Drucker",
        "Der Drucker druckt nicht.",
        "",
    ))
    .await;
    d.poll().await;
    let subject: String = sqlx::query_scalar(
        "SELECT subject FROM mail_messages WHERE template = 'ticket_acknowledgement'",
    )
    .fetch_one(&d.app.owner)
    .await
    .expect("an acknowledgement");
    // The token and the number, nothing undecoded.
    assert!(
        subject.starts_with("[#1-") && subject.ends_with("] Ticket #1"),
        "{subject}"
    );
}
