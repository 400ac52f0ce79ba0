//! Merging tickets and splitting them (`POST /api/v1/tickets/{id}/merge`,
//! `/split`): what moves, the merged ticket's pointer, a second merge, the
//! refusals, tenancy, the portal's view of a merged ticket, mail to a
//! merged ticket's thread through a real Dovecot, and the console's forms.

use axum::http::StatusCode;
use base64::Engine;
use chrono::Duration;
use nestogy_domain::kernel::roles::Role;
use serde_json::{Value, json};

use crate::common::{Response, Tenant, TestApp, field_code};
use crate::console::{admin_email, get, post, sign_in};
use crate::inbound::{Desk, message};
use crate::portal::{portal, signed_in};
use crate::portal_pages::accept;

async fn created(app: &TestApp, token: &str, path: &str, body: Value) -> Value {
    let r = app.post(path, token, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{path}: {}", r.body);
    r.body
}

async fn contact(app: &TestApp, t: &Tenant, client: &str, name: &str) -> String {
    let email = format!("{}@client.example", name.to_lowercase());
    let body = created(
        app,
        &t.admin,
        &format!("/api/v1/clients/{client}/contacts"),
        json!({"name": name, "email": email}),
    )
    .await;
    body["id"].as_str().expect("contact id").to_owned()
}

async fn ticket(app: &TestApp, token: &str, body: Value) -> String {
    created(app, token, "/api/v1/tickets", body).await["id"]
        .as_str()
        .expect("ticket id")
        .to_owned()
}

async fn note(app: &TestApp, token: &str, id: &str, body: Value) -> Value {
    created(app, token, &format!("/api/v1/tickets/{id}/messages"), body).await["message"].clone()
}

async fn merge(app: &TestApp, token: &str, id: &str, into: &str) -> Response {
    app.post(
        &format!("/api/v1/tickets/{id}/merge"),
        token,
        json!({"into": into}),
    )
    .await
}

async fn read(app: &TestApp, token: &str, path: &str) -> Value {
    let r = app.get(path, token).await;
    assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
    r.body
}

async fn split(app: &TestApp, token: &str, id: &str, ids: Vec<&str>, subject: &str) -> Response {
    app.post(
        &format!("/api/v1/tickets/{id}/split"),
        token,
        json!({"message_ids": ids, "subject": subject}),
    )
    .await
}

fn bodies(messages: &Value) -> Vec<String> {
    messages
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["body"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// B's thread (with its attachment), time and watchers move to A, in
/// time order; watchers once; B's contact watches A; B is closed with a
/// pointer, refuses to reopen or take messages, and A's history, audit
/// and search know; the second merge is the first's answer, nothing moved
/// twice.
#[tokio::test]
async fn merge_moves_thread_time_and_watchers_and_closes_the_merged_ticket() {
    let app = TestApp::new().await;
    let t = app.tenant("Merge Desk").await;
    let client = app.client(&t.admin, "Acme Merge").await;
    let ann = contact(&app, &t, &client, "Ann").await;
    let bob = contact(&app, &t, &client, "Bob").await;
    let cid = contact(&app, &t, &client, "Cid").await;
    let tech_token = app.user(&t, Role::Tech).await;
    let me = read(&app, &tech_token, "/api/v1/auth/me").await;
    let tech = me["user"]["id"].as_str().expect("tech id").to_owned();

    let a = ticket(
        &app,
        &t.admin,
        json!({"subject": "Printer jams", "client_id": client, "contact_id": ann,
               "description": "A first"}),
    )
    .await;
    app.clock.advance(Duration::minutes(1));
    let b = ticket(
        &app,
        &t.admin,
        json!({"subject": "Printer again", "client_id": client, "contact_id": bob,
               "description": "B first"}),
    )
    .await;
    app.clock.advance(Duration::minutes(1));
    note(
        &app,
        &t.admin,
        &a,
        json!({"kind": "note", "body": "A second"}),
    )
    .await;
    app.clock.advance(Duration::minutes(1));
    let b_note = note(
        &app,
        &t.admin,
        &b,
        json!({"kind": "note", "body": "B note zebrafish", "attachments": [
            {"filename": "jam.txt", "content_type": "text/plain", "content_base64": b64(b"paper")}]}),
    )
    .await;
    let attachment = b_note["attachments"][0]["id"]
        .as_str()
        .expect("attachment")
        .to_owned();
    for (ticket, body) in [
        (&a, json!({"user_id": tech})),
        (&b, json!({"user_id": tech})),
        (&b, json!({"contact_id": cid})),
    ] {
        created(
            &app,
            &t.admin,
            &format!("/api/v1/tickets/{ticket}/watchers"),
            body,
        )
        .await;
    }
    let entry = created(
        &app,
        &tech_token,
        "/api/v1/time-entries",
        json!({"ticket_id": b, "minutes": 15, "description": "Cleared the jam", "billable": false}),
    )
    .await["id"]
        .as_str()
        .expect("entry")
        .to_owned();

    let r = merge(&app, &t.admin, &b, &a).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.body["moved"],
        json!({"messages": 2, "attachments": 1, "time_entries": 1, "watchers": 2}),
        "{}",
        r.body
    );
    assert_eq!(r.body["merged"]["status"], "closed");
    assert_eq!(r.body["merged"]["merged_into"], a.as_str());
    assert_eq!(r.body["into"]["id"], a.as_str());

    // A's thread in time order, B's attachment served from A.
    let thread = read(&app, &t.admin, &format!("/api/v1/tickets/{a}/messages")).await;
    assert_eq!(
        bodies(&thread),
        ["A first", "B first", "A second", "B note zebrafish"]
    );
    let (status, _, bytes) = app
        .get_bytes(
            &format!("/api/v1/tickets/{a}/attachments/{attachment}"),
            &t.admin,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes, b"paper");
    let gone = app
        .get(
            &format!("/api/v1/tickets/{b}/attachments/{attachment}"),
            &t.admin,
        )
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    // Watchers: the tech once, Cid, and B's contact Bob.
    let watchers = read(&app, &t.admin, &format!("/api/v1/tickets/{a}/watchers")).await;
    let mut who: Vec<String> = watchers
        .as_array()
        .expect("watchers")
        .iter()
        .map(|w| {
            w["user_id"]
                .as_str()
                .or(w["contact_id"].as_str())
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    who.sort();
    let mut want = vec![tech.clone(), cid.clone(), bob.clone()];
    want.sort();
    assert_eq!(who, want);
    assert!(!who.contains(&ann));
    assert_eq!(
        read(&app, &t.admin, &format!("/api/v1/tickets/{b}/watchers")).await,
        json!([])
    );
    // Time.
    let e = read(&app, &t.admin, &format!("/api/v1/time-entries/{entry}")).await;
    assert_eq!(e["ticket_id"], a.as_str());

    // B: closed, pointing at A, its thread empty.
    let bt = read(&app, &t.admin, &format!("/api/v1/tickets/{b}")).await;
    assert_eq!(bt["status"], "closed");
    assert_eq!(bt["merged_into"], a.as_str());
    assert!(bt["closed_at"].is_string());
    assert_eq!(
        read(&app, &t.admin, &format!("/api/v1/tickets/{b}/messages")).await,
        json!([])
    );
    assert!(read(&app, &t.admin, &format!("/api/v1/tickets/{a}")).await["merged_into"].is_null());
    // History and audit.
    let ha = read(&app, &t.admin, &format!("/api/v1/tickets/{a}/history")).await;
    assert_eq!(ha["moves"].as_array().map(Vec::len), Some(1), "{ha}");
    assert_eq!(ha["moves"][0]["kind"], "merge");
    assert_eq!(ha["moves"][0]["from_ticket_id"], b.as_str());
    assert_eq!(ha["moves"][0]["to_number"], 1);
    let hb = read(&app, &t.admin, &format!("/api/v1/tickets/{b}/history")).await;
    assert_eq!(hb["moves"], ha["moves"]);
    assert_eq!(
        hb["status_changes"]
            .as_array()
            .and_then(|s| s.last())
            .map(|s| s["to"].clone()),
        Some(json!("closed"))
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM audit_log WHERE action = 'ticket.merged' AND entity_id = '{b}'::uuid"
        ))
        .await,
        1
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM audit_log WHERE action = 'ticket.merged_in' AND entity_id = '{a}'::uuid"
        ))
        .await,
        1
    );
    // Search finds B's words on A, no longer on B.
    let found = read(&app, &t.admin, "/api/v1/tickets?q=zebrafish").await;
    let ids: Vec<&str> = found["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|t| t["id"].as_str())
        .collect();
    assert_eq!(ids, [a.as_str()]);

    // Again: the same answer, nothing moved twice, nothing recorded twice.
    let again = merge(&app, &t.admin, &b, &a).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body["moved"], r.body["moved"]);
    assert_eq!(again.body["merged"]["merged_into"], a.as_str());
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM ticket_messages WHERE ticket_id = '{a}'::uuid"
        ))
        .await,
        4
    );
    assert_eq!(
        app.count("SELECT count(*) FROM ticket_moves").await,
        1,
        "one merge recorded"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE action = 'ticket.merged'")
            .await,
        1
    );

    // B stays closed and takes nothing more.
    let reopen = app
        .post(
            &format!("/api/v1/tickets/{b}/status"),
            &t.admin,
            json!({"status": "open"}),
        )
        .await;
    assert_eq!(reopen.status, StatusCode::CONFLICT, "{}", reopen.body);
    assert_eq!(reopen.error_code(), "ticket_merged");
    let write = app
        .post(
            &format!("/api/v1/tickets/{b}/messages"),
            &t.admin,
            json!({"kind": "note", "body": "late"}),
        )
        .await;
    assert_eq!(write.status, StatusCode::CONFLICT, "{}", write.body);
    assert_eq!(write.error_code(), "ticket_merged");
}

/// A merge with open required checklist items on B closes B anyway (its
/// work goes on on A); a merge by number; each refusal with its code; the
/// accountant may not merge; another tenant's ticket is a 404 either way
/// round and stays as it was.
#[tokio::test]
async fn merge_refusals_roles_and_tenancy() {
    let app = TestApp::new().await;
    let t = app.tenant("Refuse Desk").await;
    let other = app.tenant("Refuse Other").await;
    let client = app.client(&t.admin, "Acme Refuse").await;
    let beta = app.client(&t.admin, "Beta Refuse").await;
    let a = ticket(&app, &t.admin, json!({"subject": "A", "client_id": client})).await;
    let b = ticket(&app, &t.admin, json!({"subject": "B", "client_id": client})).await;
    let c = ticket(&app, &t.admin, json!({"subject": "C", "client_id": client})).await;
    let d = ticket(&app, &t.admin, json!({"subject": "D", "client_id": client})).await;
    let elsewhere = ticket(&app, &t.admin, json!({"subject": "E", "client_id": beta})).await;
    let loose = ticket(&app, &t.admin, json!({"subject": "No client"})).await;
    let theirs = ticket(&app, &other.admin, json!({"subject": "Theirs"})).await;

    // Into itself.
    let r = merge(&app, &t.admin, &a, &a).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(field_code(&r, "into"), "same_ticket");
    // Nonsense.
    let r = merge(&app, &t.admin, &a, "not a ticket").await;
    assert_eq!(field_code(&r, "into"), "invalid");
    // Another tenant's, either way: 404, theirs untouched.
    for (from, into, token) in [
        (&a, &theirs, &t.admin),
        (&theirs, &a, &t.admin),
        (&a, &b, &other.admin),
    ] {
        let r = merge(&app, token, from, into).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    }
    let th = read(&app, &other.admin, &format!("/api/v1/tickets/{theirs}")).await;
    assert_eq!(th["status"], "new");
    assert!(th["merged_into"].is_null());
    // Another client's ticket.
    let r = merge(&app, &t.admin, &elsewhere, &a).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.error_code(), "different_clients");
    // The accountant.
    let accountant = app.user(&t, Role::Accountant).await;
    let r = merge(&app, &accountant, &b, &a).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);

    // B has a required checklist item open: the merge closes it anyway.
    let item = app
        .post(
            &format!("/api/v1/tickets/{b}/checklist"),
            &t.admin,
            json!({"text": "Replace drum", "required": true}),
        )
        .await;
    assert_eq!(item.status, StatusCode::CREATED, "{}", item.body);
    let number = read(&app, &t.admin, &format!("/api/v1/tickets/{a}")).await["number"].clone();
    let r = merge(&app, &t.admin, &b, &format!("#{number}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["merged"]["status"], "closed");
    assert_eq!(r.body["merged"]["merged_into"], a.as_str());
    // A ticket without a client joins any.
    let r = merge(&app, &t.admin, &loose, &a).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // B, merged into A, into another: already merged.
    let r = merge(&app, &t.admin, &b, &d).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.error_code(), "already_merged");
    // Into a merged ticket.
    let r = merge(&app, &t.admin, &c, &b).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.error_code(), "target_merged");
    // A merged ticket takes no split.
    let r = app
        .post(
            &format!("/api/v1/tickets/{b}/split"),
            &t.admin,
            json!({"message_ids": [], "subject": "x"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.error_code(), "ticket_merged");
    assert_eq!(
        read(&app, &t.admin, &format!("/api/v1/tickets/{c}")).await["status"],
        "new"
    );
}

/// Split: the chosen messages and their attachment go to a new ticket of
/// the same client and contact, the rest stays; both histories say so;
/// all the messages, another ticket's message, none, a blank subject and
/// another tenant's ticket are refused.
#[tokio::test]
async fn split_moves_the_chosen_messages_to_a_new_ticket() {
    let app = TestApp::new().await;
    let t = app.tenant("Split Desk").await;
    let other = app.tenant("Split Other").await;
    let client = app.client(&t.admin, "Acme Split").await;
    let ann = contact(&app, &t, &client, "Ann").await;
    let id = ticket(
        &app,
        &t.admin,
        json!({"subject": "Printer and VPN", "client_id": client, "contact_id": ann,
               "description": "Printer jams"}),
    )
    .await;
    app.clock.advance(Duration::minutes(1));
    let vpn = note(
        &app,
        &t.admin,
        &id,
        json!({"kind": "note", "body": "Also the VPN drops", "attachments": [
            {"filename": "vpn.log", "content_base64": b64(b"drop")}]}),
    )
    .await;
    app.clock.advance(Duration::minutes(1));
    let vpn2 = note(
        &app,
        &t.admin,
        &id,
        json!({"kind": "note", "body": "VPN log attached"}),
    )
    .await;
    let first = read(&app, &t.admin, &format!("/api/v1/tickets/{id}/messages")).await[0]["id"]
        .as_str()
        .expect("first")
        .to_owned();
    let other_ticket = ticket(
        &app,
        &t.admin,
        json!({"subject": "Else", "description": "x"}),
    )
    .await;
    let foreign = read(
        &app,
        &t.admin,
        &format!("/api/v1/tickets/{other_ticket}/messages"),
    )
    .await[0]["id"]
        .as_str()
        .expect("foreign")
        .to_owned();
    let (v1, v2) = (
        vpn["id"].as_str().expect("id"),
        vpn2["id"].as_str().expect("id"),
    );
    let r = split(&app, &t.admin, &id, vec![&first, v1, v2], "All").await;
    assert_eq!(field_code(&r, "message_ids"), "all_messages");
    let r = split(&app, &t.admin, &id, vec![v1, &foreign], "Other's").await;
    assert_eq!(field_code(&r, "message_ids"), "not_found");
    let r = split(&app, &t.admin, &id, vec![], "None").await;
    assert_eq!(field_code(&r, "message_ids"), "out_of_range");
    let r = split(&app, &t.admin, &id, vec![v1], "  ").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let r = app
        .post(
            &format!("/api/v1/tickets/{id}/split"),
            &other.admin,
            json!({"message_ids": [v1], "subject": "Theirs"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    assert_eq!(
        app.count("SELECT count(*) FROM tickets").await,
        2,
        "nothing made by a refusal"
    );

    let r = split(&app, &t.admin, &id, vec![v2, v1, v1], "VPN drops").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(
        r.body["moved"],
        json!({"messages": 2, "attachments": 1, "time_entries": 0, "watchers": 0})
    );
    let new = r.body["ticket"]["id"].as_str().expect("new").to_owned();
    assert_eq!(r.body["ticket"]["subject"], "VPN drops");
    assert_eq!(r.body["ticket"]["client_id"], client.as_str());
    assert_eq!(r.body["ticket"]["contact_id"], ann.as_str());
    let moved = read(&app, &t.admin, &format!("/api/v1/tickets/{new}/messages")).await;
    assert_eq!(bodies(&moved), ["Also the VPN drops", "VPN log attached"]);
    assert_eq!(moved[0]["attachments"][0]["filename"], "vpn.log");
    let kept = read(&app, &t.admin, &format!("/api/v1/tickets/{id}/messages")).await;
    assert_eq!(bodies(&kept), ["Printer jams"]);
    for t_id in [&id, &new] {
        let h = read(&app, &t.admin, &format!("/api/v1/tickets/{t_id}/history")).await;
        assert_eq!(h["moves"][0]["kind"], "split", "{h}");
        assert_eq!(h["moves"][0]["from_ticket_id"], id.as_str());
        assert_eq!(h["moves"][0]["to_ticket_id"], new.as_str());
    }
}

/// A contact who opens a merged ticket in the portal sees it closed with
/// the token of the ticket it went to; it cannot be reopened.
#[tokio::test]
async fn portal_shows_a_merged_ticket_closed_with_its_successor() {
    let app = TestApp::new().await;
    let p = portal(&app, "Merge Portal").await;
    let token = signed_in(&app, &p, None).await;
    let r = app
        .post(
            "/api/v1/portal/tickets",
            &token,
            json!({"subject": "Screen flickers", "description": "It flickers."}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let b = r.body["ticket"]["id"].as_str().expect("id").to_owned();
    let a = ticket(
        &app,
        &p.t.admin,
        json!({"subject": "Monitors", "client_id": p.client, "contact_id": p.contact}),
    )
    .await;
    let at = read(&app, &p.t.admin, &format!("/api/v1/tickets/{a}")).await;
    let r = merge(&app, &p.t.admin, &b, &a).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let seen = read(&app, &token, &format!("/api/v1/portal/tickets/{b}")).await;
    assert_eq!(seen["ticket"]["status"], "closed");
    assert_eq!(seen["ticket"]["merged_into"], at["token"]);
    assert_eq!(seen["messages"], json!([]));
    let r = app
        .post(
            &format!("/api/v1/portal/tickets/{b}/reopen"),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.error_code(), "ticket_merged");
    let thread = read(&app, &token, &format!("/api/v1/portal/tickets/{a}")).await;
    assert_eq!(thread["messages"][0]["body"], "It flickers.");
    // The portal's page says so, and offers no reopening.
    let cookies = accept(&app, &p, "a long portal password").await;
    let page = get(&app, &format!("/portal/{}/tickets/{b}", p.slug), &cookies).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.has_id("merged-into"), "{}", page.html);
    assert!(page.html.contains(at["token"].as_str().expect("token")));
    assert!(!page.has_id("reopen-ticket"));
}

/// Mail opens ticket B; B is merged into A; a reply to B's
/// acknowledgement (B's token in the subject, In-Reply-To the
/// acknowledgement's Message-ID) lands on A, as does mail with only B's
/// token; after A is merged into C, B's thread lands on C. No new ticket.
#[tokio::test]
async fn mail_to_a_merged_ticket_s_thread_lands_on_the_ticket_it_was_merged_into() {
    let d = Desk::new().await;
    let first = message(
        "alice@acme.example",
        "Printer broken",
        "The printer is broken.",
        "",
    );
    d.append(&first).await;
    d.poll().await;
    let (b, token): (uuid::Uuid, String) =
        sqlx::query_as("SELECT id, '[#' || number || '-' || token_code || ']' FROM tickets")
            .fetch_one(&d.app.owner)
            .await
            .expect("ticket B");
    let ack: String = sqlx::query_scalar(
        "SELECT message_id FROM mail_messages WHERE template = 'ticket_acknowledgement' AND subject_id = $1",
    )
    .bind(b)
    .fetch_one(&d.app.owner)
    .await
    .expect("B's acknowledgement");
    let a = ticket(&d.app, &d.t.admin, json!({"subject": "Printers"})).await;
    let r = merge(&d.app, &d.t.admin, &b.to_string(), &a).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    let landed = |uid: u32| {
        let d = &d;
        async move {
            let (outcome, ticket): (String, Option<uuid::Uuid>) = sqlx::query_as(
                "SELECT outcome, ticket_id FROM inbound_messages WHERE mailbox_id = $1 AND uid = $2",
            )
            .bind(d.mailbox)
            .bind(i64::from(uid))
            .fetch_one(&d.app.owner)
            .await
            .expect("inbound row");
            (outcome, ticket.map(|t| t.to_string()))
        }
    };
    // Our acknowledgement answered (its Message-ID only in the headers).
    let reply = message(
        "alice@acme.example",
        &format!("Re: {token} Printer broken"),
        "Still broken after the restart.",
        &format!("In-Reply-To: {ack}\r\nReferences: {ack}\r\n"),
    );
    let uid = d.append(&reply).await;
    d.poll().await;
    assert_eq!(landed(uid).await, ("reply".into(), Some(a.clone())));
    // Only the token.
    let by_token = message(
        "alice@acme.example",
        &format!("{token} one more thing"),
        "Toner is low too.",
        "",
    );
    let uid = d.append(&by_token).await;
    d.poll().await;
    assert_eq!(landed(uid).await, ("reply".into(), Some(a.clone())));
    let thread = read(&d.app, &d.t.admin, &format!("/api/v1/tickets/{a}/messages")).await;
    assert_eq!(
        bodies(&thread),
        [
            "The printer is broken.",
            "Still broken after the restart.",
            "Toner is low too."
        ]
    );
    assert_eq!(
        read(&d.app, &d.t.admin, &format!("/api/v1/tickets/{b}")).await["status"],
        "closed"
    );

    // A into C: B's thread follows the chain.
    let c = ticket(&d.app, &d.t.admin, json!({"subject": "All printers"})).await;
    let r = merge(&d.app, &d.t.admin, &a, &c).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Its subject without the token: the acknowledgement's Message-ID alone.
    let late = message(
        "alice@acme.example",
        "Re: Printer broken",
        "Fixed now, thanks.",
        &format!("In-Reply-To: {ack}\r\n"),
    );
    let uid = d.append(&late).await;
    d.poll().await;
    assert_eq!(landed(uid).await, ("reply".into(), Some(c.clone())));
    assert_eq!(d.count("SELECT count(*) FROM tickets").await, 3);
}

/// The console's ticket page: the merge form (with its CSRF token) takes a
/// ticket number and merges through the API; without the token, 403; the
/// merged ticket's page says where it went and offers no merge; a refused
/// merge shows the API's problem beside the form; a message splits off
/// into a new ticket.
#[tokio::test]
async fn console_merges_by_number_and_splits_a_message_off() {
    let app = TestApp::new().await;
    let t = app.tenant("Console Merge").await;
    let client = app.client(&t.admin, "Acme Console").await;
    let beta = app.client(&t.admin, "Beta Console").await;
    let a = ticket(
        &app,
        &t.admin,
        json!({"subject": "Printer jams", "client_id": client, "description": "first"}),
    )
    .await;
    let b = ticket(
        &app,
        &t.admin,
        json!({"subject": "Printer again", "client_id": client, "description": "second"}),
    )
    .await;
    let elsewhere = ticket(
        &app,
        &t.admin,
        json!({"subject": "Other client", "client_id": beta}),
    )
    .await;
    let s = sign_in(&app, &admin_email("Console Merge")).await;
    let base = format!("/console/tickets/{b}");
    let page = get(&app, &base, &s.cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.has_id("merge-form") && page.has_id("merge-into"));
    assert!(page.html.contains(&format!("action=\"{base}/merge\"")));
    let csrf = page.csrf();

    let forged = post(&app, &format!("{base}/merge"), &s.cookie, &[("into", "1")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(read(&app, &t.admin, &format!("/api/v1/tickets/{b}")).await["merged_into"].is_null());
    // Into another client's ticket: the API's problem beside the form.
    let number = |id: &str| {
        let id = id.to_owned();
        let app = &app;
        let admin = t.admin.clone();
        async move {
            read(app, &admin, &format!("/api/v1/tickets/{id}")).await["number"]
                .as_i64()
                .expect("number")
                .to_string()
        }
    };
    let r = post(
        &app,
        &format!("{base}/merge"),
        &s.cookie,
        &[
            ("csrf", &csrf),
            ("into", &format!("#{}", number(&elsewhere).await)),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.html);
    assert!(r.html.contains("different clients"), "{}", r.html);

    let r = post(
        &app,
        &format!("{base}/merge"),
        &s.cookie,
        &[("csrf", &csrf), ("into", &number(&a).await)],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    assert_eq!(r.location(), base);
    assert_eq!(
        read(&app, &t.admin, &format!("/api/v1/tickets/{b}")).await["merged_into"],
        a.as_str()
    );
    let page = get(&app, &base, &s.cookie).await;
    assert!(page.has_id("merged-into"), "{}", page.html);
    assert!(
        page.html
            .contains(&format!("href=\"/console/tickets/{a}\""))
    );
    assert!(!page.has_id("merge-form"));

    // A now has two messages: each can be split off.
    let page = get(&app, &format!("/console/tickets/{a}"), &s.cookie).await;
    assert!(page.html.contains("merged into"), "{}", page.html);
    assert!(page.html.contains("split-form"), "{}", page.html);
    let second = read(&app, &t.admin, &format!("/api/v1/tickets/{a}/messages")).await[1]["id"]
        .as_str()
        .expect("message")
        .to_owned();
    let r = post(
        &app,
        &format!("/console/tickets/{a}/split"),
        &s.cookie,
        &[
            ("csrf", &page.csrf()),
            ("message_id", &second),
            ("subject", "Second printer"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    let new = r
        .location()
        .strip_prefix("/console/tickets/")
        .expect("to the new ticket")
        .to_owned();
    let moved = read(&app, &t.admin, &format!("/api/v1/tickets/{new}/messages")).await;
    assert_eq!(bodies(&moved), ["second"]);
    assert_eq!(
        read(&app, &t.admin, &format!("/api/v1/tickets/{new}")).await["subject"],
        "Second printer"
    );
}

/// A merge and a split each record their event for the endpoints that
/// want it (`ticket.merged`, `ticket.split`), about the ticket that lost
/// messages, with both tickets' ids and numbers and what moved; asking for
/// the same merge again records nothing more.
#[tokio::test]
async fn merges_and_splits_make_their_webhook_events() {
    let app = TestApp::new().await;
    let t = app.tenant("Merge Hooks").await;
    let r = app
        .post(
            "/api/v1/webhooks/endpoints",
            &t.admin,
            json!({"url": "https://hooks.example.com/", "event_types": ["ticket.merged", "ticket.split"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let client = app.client(&t.admin, "Acme Hooks").await;
    let a = ticket(
        &app,
        &t.admin,
        json!({"subject": "A", "client_id": client, "description": "A first"}),
    )
    .await;
    let b = ticket(
        &app,
        &t.admin,
        json!({"subject": "B", "client_id": client, "description": "B first"}),
    )
    .await;
    let number = |id: &str| {
        let app = &app;
        let (path, token) = (format!("/api/v1/tickets/{id}"), t.admin.clone());
        async move { read(app, &token, &path).await["number"].clone() }
    };
    let (a_number, b_number) = (number(&a).await, number(&b).await);
    for _ in 0..2 {
        let r = merge(&app, &t.admin, &b, &a).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    let extra = note(
        &app,
        &t.admin,
        &a,
        json!({"kind": "note", "body": "split me"}),
    )
    .await;
    let r = split(
        &app,
        &t.admin,
        &a,
        vec![extra["id"].as_str().unwrap()],
        "Split off",
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let new = r.body["ticket"].clone();

    let events: Vec<(String, Option<uuid::Uuid>, Value)> =
        sqlx::query_as("SELECT type, subject_id, payload FROM events ORDER BY created_at, id")
            .fetch_all(&app.owner)
            .await
            .unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(kinds, ["ticket.merged", "ticket.split"], "{events:?}");
    let (merged, split) = (&events[0], &events[1]);
    assert_eq!(merged.1.map(|u| u.to_string()), Some(b.clone()));
    assert_eq!(
        (
            &merged.2["kind"],
            &merged.2["from_ticket_id"],
            &merged.2["from_number"],
            &merged.2["to_ticket_id"],
            &merged.2["to_number"],
            &merged.2["moved"]["messages"],
        ),
        (
            &json!("merge"),
            &json!(b),
            &b_number,
            &json!(a),
            &a_number,
            &json!(1)
        ),
        "{}",
        merged.2
    );
    assert_eq!(split.1.map(|u| u.to_string()), Some(a.clone()));
    assert_eq!(
        (
            &split.2["kind"],
            &split.2["to_ticket_id"],
            &split.2["to_number"],
            &split.2["moved"]["messages"],
        ),
        (&json!("split"), &new["id"], &new["number"], &json!(1)),
        "{}",
        split.2
    );
}
