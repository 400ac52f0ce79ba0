//! The IMAP test harness itself (`dovecot.rs`): a private Dovecot per test
//! that stores what is appended, leaves \Seen alone on BODY.PEEK[], shows
//! flags set by others, changes UIDVALIDITY on demand and takes thousands of
//! messages quickly; and the mail fixtures with their manifest.

use std::collections::{BTreeSet, HashMap};

use async_imap::types::Fetch;
use futures_util::TryStreamExt;
use serde_json::Value;

use crate::dovecot::{
    Dovecot, PLACEHOLDERS, fill, fixtures_dir, mail_fixtures, mail_manifest, placeholders,
};

const USER: &str = "support@msp-a.test";
const PASSWORD: &str = "imap-s3cret";

fn message(n: usize) -> Vec<u8> {
    format!(
        "Return-Path: <alice@acme.example>\r\n\
         From: Alice Example <alice@acme.example>\r\n\
         To: support@msp-a.test\r\n\
         Subject: Test message {n}\r\n\
         Message-ID: <harness-{n}@acme.example>\r\n\
         Date: Tue, 04 Mar 2025 09:{:02}:00 +0100\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\
         \r\n\
         Body of message {n}: Grüße, ünïcödé.\r\n",
        n % 60
    )
    .into_bytes()
}

/// UID → BODY[] of every message in `folder`, fetched with BODY.PEEK[]
/// over a read-write SELECT (so a non-peek fetch would set \Seen).
async fn fetch_all(dc: &Dovecot, folder: &str) -> Vec<(u32, Vec<u8>)> {
    let mut s = dc.session(USER, PASSWORD).await;
    s.select(folder).await.expect("select");
    let fetched: Vec<Fetch> = s
        .uid_fetch("1:*", "(UID BODY.PEEK[])")
        .await
        .expect("UID FETCH")
        .try_collect()
        .await
        .expect("FETCH responses");
    let out = fetched
        .iter()
        .map(|f| {
            (
                f.uid.expect("UID in FETCH"),
                f.body().expect("BODY[] in FETCH").to_vec(),
            )
        })
        .collect();
    s.logout().await.expect("logout");
    out
}

#[tokio::test]
async fn appended_messages_come_back_byte_for_byte_and_peek_leaves_them_unseen() {
    let dc = Dovecot::start().await;
    dc.add_user(USER, PASSWORD);

    // A wrong password is refused; the user exists only in this instance.
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", dc.port))
        .await
        .expect("connect");
    let mut client = async_imap::Client::new(stream);
    client.read_response().await.expect("greeting");
    assert!(client.login(USER, "wrong").await.is_err());
    let other = Dovecot::start().await;
    assert_ne!(other.port, dc.port);
    other.add_user("someone@msp-b.test", "pw");
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", other.port))
        .await
        .expect("connect");
    let mut client = async_imap::Client::new(stream);
    client.read_response().await.expect("greeting");
    assert!(client.login(USER, PASSWORD).await.is_err());
    drop(other);

    let raws: Vec<Vec<u8>> = (1..=3).map(message).collect();
    let mut uids = Vec::new();
    for raw in &raws {
        uids.push(dc.append(USER, PASSWORD, "INBOX", raw, false).await);
    }
    assert!(uids.windows(2).all(|w| w[0] < w[1]), "UIDs {uids:?}");

    let fetched = fetch_all(&dc, "INBOX").await;
    assert_eq!(fetched.len(), 3);
    for ((uid, body), (want_uid, raw)) in fetched.iter().zip(uids.iter().zip(&raws)) {
        assert_eq!(uid, want_uid);
        assert_eq!(body, raw, "message {uid} changed in the round trip");
    }
    assert_eq!(
        dc.status(USER, PASSWORD, "INBOX").await,
        (3, vec![]),
        "BODY.PEEK[] must not set \\Seen"
    );

    // The control: a plain BODY[] fetch does set \Seen, and status shows it.
    let mut s = dc.session(USER, PASSWORD).await;
    s.select("INBOX").await.expect("select");
    let _: Vec<Fetch> = s
        .uid_fetch(uids[1].to_string(), "BODY[]")
        .await
        .expect("UID FETCH")
        .try_collect()
        .await
        .expect("FETCH responses");
    s.logout().await.expect("logout");
    assert_eq!(dc.status(USER, PASSWORD, "INBOX").await, (3, vec![uids[1]]));
}

#[tokio::test]
async fn flags_set_by_another_client_show_in_status() {
    let dc = Dovecot::start().await;
    dc.add_user(USER, PASSWORD);
    let a = dc
        .append(USER, PASSWORD, "Support", &message(1), false)
        .await;
    let b = dc
        .append(USER, PASSWORD, "Support", &message(2), false)
        .await;
    let c = dc
        .append(USER, PASSWORD, "Support", &message(3), true)
        .await;
    assert_eq!(dc.status(USER, PASSWORD, "Support").await, (3, vec![c]));
    dc.set_seen(USER, PASSWORD, "Support", b).await;
    assert_eq!(dc.status(USER, PASSWORD, "Support").await, (3, vec![b, c]));
    // The other folder is untouched.
    assert_eq!(dc.status(USER, PASSWORD, "INBOX").await, (0, vec![]));
    assert!(a < b && b < c);

    // A user added later, and a changed password, work at once.
    dc.add_user("billing@msp-a.test", "first");
    dc.add_user("billing@msp-a.test", "second");
    let uid = dc
        .append("billing@msp-a.test", "second", "INBOX", &message(4), false)
        .await;
    assert_eq!(
        dc.status("billing@msp-a.test", "second", "INBOX").await,
        (1, vec![])
    );
    assert_eq!(uid, 1);
}

#[tokio::test]
async fn reset_uidvalidity_keeps_the_messages_under_a_new_uidvalidity() {
    let dc = Dovecot::start().await;
    dc.add_user(USER, PASSWORD);
    let raws: Vec<Vec<u8>> = (1..=3).map(message).collect();
    let uids = dc.append_many(USER, PASSWORD, "INBOX", &raws).await;
    dc.set_seen(USER, PASSWORD, "INBOX", uids[0]).await;
    let before = dc.uidvalidity(USER, PASSWORD, "INBOX").await;
    let bodies_before: BTreeSet<Vec<u8>> = fetch_all(&dc, "INBOX")
        .await
        .into_iter()
        .map(|(_, b)| b)
        .collect();

    let after = dc.reset_uidvalidity(USER, PASSWORD, "INBOX").await;
    assert_ne!(after, before);
    assert_eq!(dc.uidvalidity(USER, PASSWORD, "INBOX").await, after);
    let fetched = fetch_all(&dc, "INBOX").await;
    let bodies_after: BTreeSet<Vec<u8>> = fetched.iter().map(|(_, b)| b.clone()).collect();
    assert_eq!(bodies_after, bodies_before);
    let (count, seen) = dc.status(USER, PASSWORD, "INBOX").await;
    assert_eq!(count, 3);
    assert_eq!(seen.len(), 1, "the \\Seen flag survives the reset");
    let seen_body = &fetched.iter().find(|(u, _)| *u == seen[0]).expect("seen").1;
    assert_eq!(seen_body, &raws[0]);

    // New mail after the reset gets a UID above the renumbered ones, and a
    // second reset changes it again; folders other than INBOX work too.
    let next = dc.append(USER, PASSWORD, "INBOX", &message(9), false).await;
    assert!(fetched.iter().all(|(u, _)| *u < next));
    dc.append(USER, PASSWORD, "Support", &message(10), false)
        .await;
    let before_support = dc.uidvalidity(USER, PASSWORD, "Support").await;
    let after_support = dc.reset_uidvalidity(USER, PASSWORD, "Support").await;
    assert_ne!(after_support, before_support);
    assert_eq!(dc.status(USER, PASSWORD, "Support").await.0, 1);
    assert_eq!(dc.status(USER, PASSWORD, "INBOX").await.0, 4);
}

#[tokio::test]
async fn append_many_stores_2000_messages_with_increasing_uids() {
    let dc = Dovecot::start().await;
    dc.add_user(USER, PASSWORD);
    let raws: Vec<Vec<u8>> = (0..2000).map(message).collect();
    let started = std::time::Instant::now();
    let uids = dc.append_many(USER, PASSWORD, "INBOX", &raws).await;
    let took = started.elapsed();
    println!("append_many: 2000 messages in {took:?}");
    assert_eq!(uids.len(), 2000);
    assert!(
        uids.windows(2).all(|w| w[0] < w[1]),
        "UIDs are not strictly increasing"
    );
    assert_eq!(uids.iter().collect::<BTreeSet<_>>().len(), 2000);
    assert_eq!(dc.status(USER, PASSWORD, "INBOX").await, (2000, vec![]));
    // Spot-check that UID n holds message n.
    let mut s = dc.session(USER, PASSWORD).await;
    s.examine("INBOX").await.expect("examine");
    let f: Vec<Fetch> = s
        .uid_fetch(uids[1234].to_string(), "BODY.PEEK[]")
        .await
        .expect("UID FETCH")
        .try_collect()
        .await
        .expect("FETCH responses");
    assert_eq!(f[0].body().expect("body"), raws[1234].as_slice());
    s.logout().await.expect("logout");
}

/// Example values, shaped like the real ones.
fn example_values() -> HashMap<&'static str, String> {
    HashMap::from([
        (
            "T1_ACK_MSGID",
            "<0194f3a2-7c1e-7b10-9e55-0a1b2c3d4e5f@msp-a.test>".to_owned(),
        ),
        ("T1_TOKEN", "[#1-K7Q2XP]".to_owned()),
        (
            "T2_ACK_MSGID",
            "<0194f3a2-7d00-7c22-8f11-aabbccddeeff@msp-a.test>".to_owned(),
        ),
        ("T2_TOKEN", "[#2-M3RT8V]".to_owned()),
        ("T3_TOKEN", "[#3-B9HW4N]".to_owned()),
        ("OTHER_TENANT_TOKEN", "[#1-Z5JD6Q]".to_owned()),
    ])
}

#[test]
fn every_fixture_is_in_the_manifest_and_uses_only_documented_placeholders() {
    let manifest = mail_manifest();
    assert!(manifest["setup"].is_object(), "manifest has a setup object");
    let documented: BTreeSet<&str> = manifest["placeholders"]
        .as_object()
        .expect("manifest documents its placeholders")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(documented, PLACEHOLDERS.into_iter().collect());

    let on_disk: BTreeSet<String> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".eml"))
        .collect();
    let fixtures = mail_fixtures();
    let listed: BTreeSet<String> = fixtures.iter().map(|f| f.file.clone()).collect();
    assert_eq!(listed.len(), fixtures.len(), "a file is listed twice");
    assert_eq!(
        on_disk.difference(&listed).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "files not in the manifest"
    );
    assert_eq!(
        listed.difference(&on_disk).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "manifest entries without a file"
    );
    assert!(fixtures.len() >= 64, "only {} fixtures", fixtures.len());

    let values = example_values();
    let mut outcomes = HashMap::<String, usize>::new();
    for f in &fixtures {
        let e = &f.expect;
        let file = &f.file;
        let outcome = e["expect"].as_str().unwrap_or_default();
        assert!(
            ["new_ticket", "reply", "quarantine", "ignored"].contains(&outcome),
            "{file}: expect {outcome:?}"
        );
        *outcomes.entry(outcome.to_owned()).or_default() += 1;
        for key in ["note", "acknowledged", "attachments", "text_contains"] {
            assert!(!e[key].is_null(), "{file}: no {key:?}");
        }
        match outcome {
            "reply" => {
                assert!(e["ticket"].is_string(), "{file}: a reply names its ticket");
                assert!(e["reopens"].is_boolean(), "{file}: reopens");
            }
            "quarantine" => {
                let reason = e["reason_contains"].as_str().unwrap_or_default();
                assert!(
                    ["parse", "from", "own address", "bounce"].contains(&reason),
                    "{file}: reason_contains {reason:?}"
                );
                assert_eq!(e["acknowledged"], Value::Bool(false), "{file}");
            }
            "ignored" => {
                assert!(e["reason_contains"].is_string(), "{file}: the robot signal");
                assert_eq!(e["acknowledged"], Value::Bool(false), "{file}");
            }
            _ => assert!(e["ticket"].is_null(), "{file}: a new ticket names none"),
        }
        for name in placeholders(&f.raw) {
            assert!(
                PLACEHOLDERS.contains(&name.as_str()),
                "{file}: unknown placeholder {{{{{name}}}}}"
            );
        }
        let filled = fill(&f.raw, &values);
        assert!(
            placeholders(&filled).is_empty(),
            "{file}: placeholders left after fill"
        );
        assert!(!filled.is_empty(), "{file}: IMAP cannot store 0 bytes");
    }
    for outcome in ["new_ticket", "reply", "quarantine"] {
        assert!(
            outcomes.get(outcome).copied().unwrap_or(0) >= 5,
            "{outcome}"
        );
    }
}

#[test]
#[should_panic(expected = "no value for the placeholder {{T9_TOKEN}}")]
fn fill_refuses_a_placeholder_without_a_value() {
    let values = example_values();
    assert_eq!(
        fill(b"Subject: Re: {{T1_TOKEN}} x", &values),
        b"Subject: Re: [#1-K7Q2XP] x"
    );
    fill(b"Subject: {{T9_TOKEN}}", &values);
}

/// What Dovecot hands back for an appended message: bare LF as CRLF (it
/// stores LF and converts), NUL bytes as 0x80; a lone CR stays.
fn as_imap_returns(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 20);
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'\r' if raw.get(i + 1) == Some(&b'\n') => {
                out.extend_from_slice(b"\r\n");
                i += 1;
            }
            b'\n' => out.extend_from_slice(b"\r\n"),
            0 => out.push(0x80),
            b => out.push(b),
        }
        i += 1;
    }
    out
}

#[tokio::test]
async fn every_fixture_can_be_appended_and_fetched_back() {
    let dc = Dovecot::start().await;
    dc.add_user(USER, PASSWORD);
    let values = example_values();
    let fixtures = mail_fixtures();
    let raws: Vec<Vec<u8>> = fixtures.iter().map(|f| fill(&f.raw, &values)).collect();
    let uids = dc.append_many(USER, PASSWORD, "INBOX", &raws).await;
    let fetched: HashMap<u32, Vec<u8>> = fetch_all(&dc, "INBOX").await.into_iter().collect();
    for ((f, raw), uid) in fixtures.iter().zip(&raws).zip(&uids) {
        let body = fetched.get(uid).expect("fetched");
        let want = as_imap_returns(raw);
        if body != &want {
            let at = body.iter().zip(&want).take_while(|(a, b)| a == b).count();
            panic!(
                "{}: Dovecot returned {} bytes, expected {}; they differ from byte {at}: {:?} vs {:?}",
                f.file,
                body.len(),
                want.len(),
                String::from_utf8_lossy(&body[at.saturating_sub(20)..(at + 20).min(body.len())]),
                String::from_utf8_lossy(&want[at.saturating_sub(20)..(at + 20).min(want.len())]),
            );
        }
    }
    assert_eq!(
        dc.status(USER, PASSWORD, "INBOX").await,
        (fixtures.len() as u32, vec![])
    );
}
