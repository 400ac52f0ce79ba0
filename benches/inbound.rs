//! Mail to tickets end to end: APPENDs `MESSAGES` messages to a private
//! Dovecot, then one poll job through the queue and a worker takes them
//! (fetch with BODY.PEEK[], raw bytes to the object store, parse, thread,
//! match the sender, ticket and message rows, acknowledgement registered,
//! checkpoint), until every message is a ticket. Prints messages/s.
//! `MESSAGES=10000 cargo bench --bench inbound`; `BENCH_QUEUES=inbound`
//! gives the worker only the inbound queue; `BENCH_SQL` runs a statement
//! on the fresh database first (for experiments: drop an index, say).

use std::time::{Duration, Instant};

#[path = "support/mod.rs"]
mod support;

#[allow(dead_code)]
#[path = "../tests/api/dovecot.rs"]
mod dovecot;

use nestogy_domain::{identity::company, platform::mail::TlsMode, service_desk::mailboxes};
use nestogy_jobs::mailboxes::Poll;
use support::env_or;

const USER: &str = "support@bench-msp.test";
const PASSWORD: &str = "bench-imap-secret";

fn main() {
    support::block_on(run());
}

/// A realistic mix: plain text, multipart/alternative with HTML, quoted
/// replies, from 2,000 senders across 100 client domains.
fn message(i: usize) -> Vec<u8> {
    let sender = format!("user{}@client{}.example", i % 2000, i % 100);
    let id = format!("<bench-{i}-{}@mua.example>", uuid::Uuid::now_v7().simple());
    let head = format!(
        "Return-Path: <{sender}>\r\nReceived: from mx.client.example by imap.bench-msp.test; Tue, 24 Nov 2026 10:00:00 +0100\r\n\
         From: User {i} <{sender}>\r\nTo: Support <{USER}>\r\nSubject: Problem number {i}: printer offline\r\n\
         Date: Tue, 24 Nov 2026 10:{:02}:00 +0100\r\nMessage-ID: {id}\r\nMIME-Version: 1.0\r\n",
        i % 60
    );
    let body = match i % 3 {
        0 => "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
              Hello,\r\n\r\nthe printer on the second floor is offline again since this morning.\r\n\
              Could someone have a look? Grüße aus Köln.\r\n\r\nThanks,\r\nUser\r\n"
            .to_owned(),
        1 => "Content-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n--b1\r\n\
              Content-Type: text/plain; charset=utf-8\r\n\r\nThe VPN drops every hour.\r\n--b1\r\n\
              Content-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>The <b>VPN</b> drops every hour.</p>\
              <table><tr><td>Site</td><td>Berlin</td></tr></table></body></html>\r\n--b1--\r\n"
            .to_owned(),
        _ => "Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
              New laptop needed for the new colleague, starting Monday.\r\n\r\n\
              On Mon, 23 Nov 2026 at 09:00, Support wrote:\r\n> Which model?\r\n> Regards\r\n"
            .to_owned(),
    };
    format!("{head}{body}").into_bytes()
}

async fn run() {
    let total: usize = env_or("MESSAGES", "10000").parse().expect("MESSAGES");
    let (owner, dbh) = support::fresh_database("nestogy_bench_inbound").await;
    let imap = dovecot::Dovecot::start().await;
    imap.add_user(USER, PASSWORD);

    let mut conn = owner.acquire().await.expect("conn");
    let (c, _) = company::create_or_get(
        &mut conn,
        "Bench MSP",
        "Europe/Berlin",
        "EUR",
        chrono::Utc::now(),
    )
    .await
    .expect("company");
    support::clear_schedules(&owner).await;
    if let Ok(sql) = std::env::var("BENCH_SQL") {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&owner)
            .await
            .expect("bench sql");
    }
    drop(conn);
    let ctx = support::job_context(dbh.clone(), "inbound").await;
    let mut tx = dbh.tenant(c.id).await.expect("tx");
    // A hundred clients with registered domains, so senders are matched.
    for d in 0..100 {
        nestogy_domain::customers::clients::create(
            &mut tx,
            serde_json::from_value(serde_json::json!({
                "name": format!("Client {d}"), "email_domains": [format!("client{d}.example")]
            }))
            .expect("client"),
        )
        .await
        .expect("client");
    }
    let mb = mailboxes::create(
        &mut tx,
        mailboxes::NewMailbox {
            name: "Support".into(),
            address: USER.into(),
            host: "127.0.0.1".into(),
            port: Some(imap.port),
            tls: TlsMode::None,
            username: USER.into(),
            password: PASSWORD.into(),
            folder: None,
            unknown_senders: None,
            closed_replies: None,
            automated_mail: None,
            enabled: None,
        },
        ctx.services.secrets.as_ref(),
    )
    .await
    .expect("mailbox");
    tx.commit().await.expect("commit");

    let raws: Vec<Vec<u8>> = (0..total).map(message).collect();
    let started = Instant::now();
    let uids = imap.append_many(USER, PASSWORD, "INBOX", &raws).await;
    let appended = started.elapsed();
    assert_eq!(uids.len(), total);
    println!(
        "appended {total} messages to Dovecot in {:.2} s ({:.0}/s)",
        appended.as_secs_f64(),
        total as f64 / appended.as_secs_f64()
    );

    let (stop, handles) = support::start_workers(&ctx, 1);
    let started = Instant::now();
    nestogy_jobs::enqueue(
        &ctx,
        &Poll {
            tenant: c.id,
            mailbox: mb.id,
            idle_secs: None,
        },
    )
    .await
    .expect("enqueue");
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let n = support::count(&owner, "SELECT count(*) FROM tickets").await;
        if n >= total as i64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {n} tickets after 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took = started.elapsed();
    support::finish(&ctx, stop, handles).await;
    let messages = support::count(&owner, "SELECT count(*) FROM ticket_messages").await;
    let acks = support::count(
        &owner,
        "SELECT count(*) FROM mail_messages WHERE template = 'ticket_acknowledgement'",
    )
    .await;
    let matched = support::count(
        &owner,
        "SELECT count(*) FROM tickets WHERE client_id IS NOT NULL",
    )
    .await;
    assert_eq!(messages, total as i64, "one message per ticket");
    println!(
        "ingested {total} messages into {total} tickets in {:.2} s: {:.0} messages/s end to end \
         ({matched} matched to clients, {acks} acknowledgements registered)",
        took.as_secs_f64(),
        total as f64 / took.as_secs_f64()
    );
}
