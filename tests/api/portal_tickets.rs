//! The client portal's tickets: contacts open tickets, follow the public
//! thread (never internal notes), reply as an e-mail reply would, close and
//! reopen within the tenant's window; and see nothing of another contact's,
//! client's or tenant's tickets.

use axum::http::{Method, StatusCode};
use base64::Engine;
use serde_json::{Value, json};

use crate::common::{PASSWORD, Response, TestApp, fields, slug};
use crate::portal::{Portal, portal, signed_in};

const TICKETS: &str = "/api/v1/portal/tickets";

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

async fn open(app: &TestApp, token: &str, subject: &str) -> Value {
    let r = app
        .post(
            TICKETS,
            token,
            json!({"subject": subject, "description": format!("About {subject}")}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body
}

/// A staff message on ticket `id`: a `reply` or a `note`, with one file.
async fn staff_message(
    app: &TestApp,
    admin: &str,
    id: &str,
    kind: &str,
    body: &str,
    file: &[u8],
) -> Value {
    let r = app
        .post(
            &format!("/api/v1/tickets/{id}/messages"),
            admin,
            json!({"kind": kind, "body": body, "attachments": [
                {"filename": format!("{kind}.bin"), "content_base64": b64(file)}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["message"].clone()
}

async fn set_status(app: &TestApp, admin: &str, id: &str, status: &str) {
    let r = app
        .post(
            &format!("/api/v1/tickets/{id}/status"),
            admin,
            json!({"status": status}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

async fn audit_actors(app: &TestApp, action: &str) -> Vec<Option<uuid::Uuid>> {
    sqlx::query_scalar("SELECT actor_contact_id FROM audit_log WHERE action = $1 ORDER BY at")
        .bind(action)
        .fetch_all(&app.owner)
        .await
        .unwrap()
}

fn ids(r: &Response) -> Vec<String> {
    r.body["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data: {}", r.body))
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn portal_tickets_open_with_an_attachment_which_staff_see_as_an_incoming_message() {
    let app = TestApp::new().await;
    let p = portal(&app, "Open Co").await;
    let contact = signed_in(&app, &p, None).await;
    let bytes: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
    let r = app
        .post(
            TICKETS,
            &contact,
            json!({"subject": "Printer jams", "description": "The 2nd floor printer jams.",
                   "attachments": [{"filename": "jam.bin", "content_type": "image/png",
                                    "content_base64": b64(&bytes)}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let t = &r.body["ticket"];
    let id = t["id"].as_str().unwrap().to_owned();
    assert_eq!(t["subject"], "Printer jams");
    assert_eq!(t["priority"], "medium");
    assert_eq!(t["status"], "new");
    assert_eq!(t["contact_name"], "Ann");
    for staff_only in [
        "assignee_id",
        "tags",
        "sla",
        "source",
        "client_id",
        "mailbox_id",
    ] {
        assert!(t.get(staff_only).is_none(), "{staff_only}: {t}");
    }
    let msgs = r.body["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 1, "{}", r.body);
    assert_eq!(msgs[0]["kind"], "incoming");
    assert_eq!(msgs[0]["author_name"], "Ann");
    assert_eq!(msgs[0]["body"], "The 2nd floor printer jams.");
    assert!(msgs[0].get("full_body").is_none(), "{}", msgs[0]);
    let att = &msgs[0]["attachments"][0];
    assert_eq!(att["filename"], "jam.bin");
    assert_eq!(att["size_bytes"], 3000);

    // Read back byte for byte.
    let path = format!("{TICKETS}/{id}/attachments/{}", att["id"].as_str().unwrap());
    let (status, headers, got) = app.get_bytes(&path, &contact).await;
    assert_eq!(status, StatusCode::OK, "{path}");
    assert_eq!(got, bytes);
    assert_eq!(headers["content-type"], "image/png");

    // Staff see it: opened in the portal, for the client and contact, the
    // description an incoming message from the contact.
    let s = app.get(&format!("/api/v1/tickets/{id}"), &p.t.admin).await;
    assert_eq!(s.status, StatusCode::OK, "{}", s.body);
    assert_eq!(s.body["source"], "portal");
    assert_eq!(s.body["client_id"], p.client.as_str());
    assert_eq!(s.body["contact_id"], p.contact.as_str());
    assert_eq!(s.body["requester_email"], p.email.as_str());
    let m = app
        .get(&format!("/api/v1/tickets/{id}/messages"), &p.t.admin)
        .await;
    assert_eq!(m.body[0]["kind"], "incoming", "{}", m.body);
    assert_eq!(m.body[0]["from_address"], p.email.as_str());
    assert_eq!(m.body[0]["from_name"], "Ann");
    assert!(m.body[0]["author_id"].is_null(), "{}", m.body);

    // In the contact's list, and the list's filters.
    let l = app.get(TICKETS, &contact).await;
    assert_eq!(l.status, StatusCode::OK, "{}", l.body);
    assert_eq!(ids(&l), vec![id.clone()]);
    assert_eq!(l.body["total"], 1);
    let l = app.get(&format!("{TICKETS}?status=closed"), &contact).await;
    assert!(ids(&l).is_empty(), "{}", l.body);
    let l = app.get(&format!("{TICKETS}?status=open"), &contact).await;
    assert_eq!(ids(&l), vec![id.clone()]);
    let l = app.get(&format!("{TICKETS}?status=nope"), &contact).await;
    assert_eq!(l.status, StatusCode::BAD_REQUEST, "{}", l.body);
    let l = app.get(&format!("{TICKETS}?q=printer"), &contact).await;
    assert_eq!(l.status, StatusCode::BAD_REQUEST, "{}", l.body);

    let contact_id = uuid::Uuid::parse_str(&p.contact).unwrap();
    assert_eq!(
        audit_actors(&app, "portal.ticket_opened").await,
        vec![Some(contact_id)]
    );

    // Bad input: nothing is stored.
    let before = app.count("SELECT count(*) FROM tickets").await;
    for bad in [
        json!({"subject": " ", "description": "x"}),
        json!({"subject": "x", "description": ""}),
        json!({"subject": "x", "description": "y", "attachments": [
            {"filename": "a/b", "content_base64": "eA=="}]}),
        json!({"subject": "x", "description": "y", "attachments": [
            {"filename": "ok", "content_base64": "not base64!"}]}),
    ] {
        let r = app.post(TICKETS, &contact, bad.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            r.body
        );
    }
    assert_eq!(app.count("SELECT count(*) FROM tickets").await, before);
}

#[tokio::test]
async fn portal_tickets_priority_outside_the_tenants_list_is_422() {
    let app = TestApp::new().await;
    let p = portal(&app, "Priority Co").await;
    let contact = signed_in(&app, &p, None).await;
    let before = app.count("SELECT count(*) FROM tickets").await;
    let r = app
        .post(
            TICKETS,
            &contact,
            json!({"subject": "Down", "description": "All down", "priority": "critical"}),
        )
        .await;
    assert_eq!(fields(&r), vec!["priority".to_owned()]);
    assert_eq!(app.count("SELECT count(*) FROM tickets").await, before);
    // The tenant allows it: taken.
    let r = app
        .patch(
            "/api/v1/company",
            &p.t.admin,
            json!({"portal_priorities": ["medium", "critical"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app
        .post(
            TICKETS,
            &contact,
            json!({"subject": "Down", "description": "All down", "priority": "critical"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["ticket"]["priority"], "critical");
    let r = app
        .post(
            TICKETS,
            &contact,
            json!({"subject": "Slow", "description": "Slow", "priority": "low"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    // Without `medium` on offer, no priority given takes the first offered
    // (the portal's form shows no choice for a single priority).
    let r = app
        .patch(
            "/api/v1/company",
            &p.t.admin,
            json!({"portal_priorities": ["high"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app
        .post(
            TICKETS,
            &contact,
            json!({"subject": "Hot", "description": "Hot"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["ticket"]["priority"], "high");
}

#[tokio::test]
async fn portal_tickets_thread_shows_public_replies_and_never_internal_notes() {
    let app = TestApp::new().await;
    let p = portal(&app, "Thread Co").await;
    let contact = signed_in(&app, &p, None).await;
    let t = open(&app, &contact, "VPN").await;
    let id = t["ticket"]["id"].as_str().unwrap().to_owned();
    let note = staff_message(
        &app,
        &p.t.admin,
        &id,
        "note",
        "Secret wombat firewall password",
        b"note bytes",
    )
    .await;
    let reply = staff_message(
        &app,
        &p.t.admin,
        &id,
        "reply",
        "Please restart the VPN client.",
        b"reply bytes",
    )
    .await;

    let r = app.get(&format!("{TICKETS}/{id}"), &contact).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let text = r.body.to_string();
    assert!(!text.contains("wombat"), "{text}");
    assert!(!text.contains("note.bin"), "{text}");
    assert!(!text.contains(note["id"].as_str().unwrap()), "{text}");
    let msgs = r.body["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 2, "{}", r.body);
    assert_eq!(msgs[1]["kind"], "reply");
    assert_eq!(msgs[1]["id"], reply["id"]);
    assert_eq!(msgs[1]["body"], "Please restart the VPN client.");
    // The staff user's name (`app.tenant` names its admin "Admin").
    assert_eq!(msgs[1]["author_name"], "Admin");
    assert_eq!(r.body["ticket"]["status"], "open");

    // The reply's file downloads; the note's does not, as if it were none.
    let reply_file = reply["attachments"][0]["id"].as_str().unwrap();
    let (status, _, got) = app
        .get_bytes(
            &format!("{TICKETS}/{id}/attachments/{reply_file}"),
            &contact,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got, b"reply bytes");
    let note_file = note["attachments"][0]["id"].as_str().unwrap();
    let r = app
        .get(&format!("{TICKETS}/{id}/attachments/{note_file}"), &contact)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    assert_eq!(r.error_code(), "not_found");
    // Staff still have it.
    let (status, _, got) = app
        .get_bytes(
            &format!("/api/v1/tickets/{id}/attachments/{note_file}"),
            &p.t.admin,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got, b"note bytes");
}

#[tokio::test]
async fn portal_tickets_a_reply_reopens_a_resolved_ticket_as_an_email_reply_would() {
    let app = TestApp::new().await;
    let p = portal(&app, "Reply Co").await;
    let contact = signed_in(&app, &p, None).await;
    let r = app
        .post(
            "/api/v1/webhooks/endpoints",
            &p.t.admin,
            json!({"url": "https://hooks.example.com/", "event_types": ["ticket.replied"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let t = open(&app, &contact, "Mail down").await;
    let id = t["ticket"]["id"].as_str().unwrap().to_owned();
    set_status(&app, &p.t.admin, &id, "resolved").await;

    let r = app
        .post(
            &format!("{TICKETS}/{id}/replies"),
            &contact,
            json!({"body": "Still broken.", "attachments": [
                {"filename": "trace.txt", "content_type": "text/plain", "content_base64": b64(b"trace")}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["kind"], "incoming");
    assert_eq!(r.body["author_name"], "Ann");
    assert_eq!(r.body["body"], "Still broken.");
    assert_eq!(r.body["attachments"][0]["filename"], "trace.txt");
    let msg = r.body["id"].as_str().unwrap().to_owned();

    let s = app.get(&format!("/api/v1/tickets/{id}"), &p.t.admin).await;
    assert_eq!(s.body["status"], "open", "{}", s.body);
    assert!(s.body["resolved_at"].is_null(), "{}", s.body);
    let m = app
        .get(&format!("/api/v1/tickets/{id}/messages"), &p.t.admin)
        .await;
    let last = m.body.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["id"], msg.as_str());
    assert_eq!(last["kind"], "incoming");
    assert_eq!(last["from_address"], p.email.as_str());
    assert_eq!(last["from_name"], "Ann");
    // The ticket.replied event, as for mail.
    let replied: Vec<Value> = sqlx::query_scalar(
        "SELECT payload FROM events WHERE type = 'ticket.replied' AND subject_id = $1 \
         ORDER BY created_at",
    )
    .bind(uuid::Uuid::parse_str(&id).unwrap())
    .fetch_all(&app.owner)
    .await
    .unwrap();
    assert!(
        replied
            .iter()
            .any(|p| p["message"]["id"] == msg.as_str() && p["message"]["kind"] == "incoming"),
        "{replied:?}"
    );
    let contact_id = uuid::Uuid::parse_str(&p.contact).unwrap();
    assert_eq!(
        audit_actors(&app, "portal.ticket_replied").await,
        vec![Some(contact_id)]
    );
    // The thread shows it.
    let g = app.get(&format!("{TICKETS}/{id}"), &contact).await;
    assert_eq!(g.body["messages"][1]["id"], msg.as_str(), "{}", g.body);
    // An empty reply is refused.
    let r = app
        .post(
            &format!("{TICKETS}/{id}/replies"),
            &contact,
            json!({"body": "  "}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
}

#[tokio::test]
async fn portal_tickets_close_and_reopen_within_the_window_and_not_after() {
    let app = TestApp::new().await;
    let p = portal(&app, "Window Co").await;
    let contact = signed_in(&app, &p, Some(PASSWORD)).await;
    let t = open(&app, &contact, "Screen").await;
    let id = t["ticket"]["id"].as_str().unwrap().to_owned();

    // Open: nothing to reopen.
    let r = app
        .post(&format!("{TICKETS}/{id}/reopen"), &contact, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.error_code(), "not_closed");

    let r = app
        .post(&format!("{TICKETS}/{id}/close"), &contact, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "closed");
    let closed_at = r.body["closed_at"].clone();
    assert!(closed_at.is_string(), "{}", r.body);
    // Again: unchanged, no second change.
    app.clock.advance(chrono::Duration::minutes(1));
    let r = app
        .post(&format!("{TICKETS}/{id}/close"), &contact, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["closed_at"], closed_at);
    assert_eq!(audit_actors(&app, "portal.ticket_closed").await.len(), 1);
    let s = app.get(&format!("/api/v1/tickets/{id}"), &p.t.admin).await;
    assert_eq!(s.body["status"], "closed");

    // A closed ticket takes no reply.
    let r = app
        .post(
            &format!("{TICKETS}/{id}/replies"),
            &contact,
            json!({"body": "hi"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.error_code(), "ticket_closed");

    // Within 14 days: reopened.
    app.clock.advance(chrono::Duration::days(13));
    let contact = login(&app, &p).await;
    let r = app
        .post(&format!("{TICKETS}/{id}/reopen"), &contact, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "open");
    assert!(r.body["closed_at"].is_null(), "{}", r.body);
    let contact_id = uuid::Uuid::parse_str(&p.contact).unwrap();
    assert_eq!(
        audit_actors(&app, "portal.ticket_reopened").await,
        vec![Some(contact_id)]
    );
    // A second reopen changes nothing.
    let r = app
        .post(&format!("{TICKETS}/{id}/reopen"), &contact, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(audit_actors(&app, "portal.ticket_reopened").await.len(), 1);

    // Resolved by staff, 15 days pass: too late.
    let admin = staff_login(&app, "Window Co").await;
    set_status(&app, &admin, &id, "resolved").await;
    app.clock.advance(chrono::Duration::days(15));
    let contact = login(&app, &p).await;
    let r = app
        .post(&format!("{TICKETS}/{id}/reopen"), &contact, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.error_code(), "reopen_window_passed");
    let message = r.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("14 days"), "{message}");
    let admin = staff_login(&app, "Window Co").await;
    let s = app.get(&format!("/api/v1/tickets/{id}"), &admin).await;
    assert_eq!(s.body["status"], "resolved");
    // A longer window: allowed again.
    let r = app
        .patch("/api/v1/company", &admin, json!({"portal_reopen_days": 30}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app
        .post(&format!("{TICKETS}/{id}/reopen"), &contact, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "open");
}

/// Signs the tenant's admin in again (after the clock moved past their
/// token).
async fn staff_login(app: &TestApp, company: &str) -> String {
    let r = app
        .login(&format!("admin@{}.example", slug(company)), PASSWORD)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["access_token"].as_str().unwrap().to_owned()
}

/// Signs the contact in again by password (after the clock moved past
/// their token).
async fn login(app: &TestApp, p: &Portal) -> String {
    let r = crate::portal::public(
        app,
        &format!("/api/v1/portal/{}/auth/login", p.slug),
        json!({"email": p.email, "password": PASSWORD}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn portal_tickets_members_see_their_own_and_portal_admins_all_of_their_clients() {
    let app = TestApp::new().await;
    let p = portal(&app, "Roles Co").await;
    let ann = signed_in(&app, &p, None).await;
    let r = app
        .post(
            &format!("/api/v1/clients/{}/contacts", p.client),
            &p.t.admin,
            json!({"name": "Bob", "email": format!("bob@{}.example", p.slug), "portal_access": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let bob_portal = Portal {
        t: p.t.clone(),
        slug: p.slug.clone(),
        client: p.client.clone(),
        contact: r.id(),
        email: format!("bob@{}.example", p.slug),
    };
    let bob = signed_in(&app, &bob_portal, None).await;
    let a = open(&app, &ann, "Ann's").await["ticket"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = open(&app, &bob, "Bob's").await["ticket"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // A ticket staff opened for the client, for no contact.
    let r = app
        .post(
            "/api/v1/tickets",
            &p.t.admin,
            json!({"subject": "Staff's", "client_id": p.client}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let c = r.id();

    assert_eq!(ids(&app.get(TICKETS, &ann).await), vec![a.clone()]);
    assert_eq!(ids(&app.get(TICKETS, &bob).await), vec![b.clone()]);
    for other in [&b, &c] {
        let r = app.get(&format!("{TICKETS}/{other}"), &ann).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    }
    let r = app
        .post(&format!("{TICKETS}/{b}/close"), &ann, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);

    // Ann becomes the client's portal admin: she sees all three.
    let r = app
        .patch(
            &format!("/api/v1/clients/{}/contacts/{}", p.client, p.contact),
            &p.t.admin,
            json!({"portal_role": "admin"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let l = app.get(TICKETS, &ann).await;
    assert_eq!(ids(&l), vec![c.clone(), b.clone(), a.clone()]);
    assert_eq!(l.body["total"], 3);
    // Paged.
    let first = app.get(&format!("{TICKETS}?limit=2"), &ann).await;
    assert_eq!(ids(&first), vec![c.clone(), b.clone()]);
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let rest = app
        .get(&format!("{TICKETS}?limit=2&cursor={cursor}"), &ann)
        .await;
    assert_eq!(ids(&rest), vec![a.clone()]);
    let r = app.get(&format!("{TICKETS}/{b}"), &ann).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["ticket"]["contact_name"], "Bob");
    let r = app.get(&format!("{TICKETS}/{c}"), &ann).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Bob is still a member.
    assert_eq!(ids(&app.get(TICKETS, &bob).await), vec![b.clone()]);
}

#[tokio::test]
async fn portal_tickets_of_another_client_or_tenant_are_not_found_on_every_route() {
    let app = TestApp::new().await;
    let p = portal(&app, "Mine Co").await;
    let contact = signed_in(&app, &p, None).await;
    let mine = open(&app, &contact, "Mine").await["ticket"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Another client of the same tenant, and another tenant's portal.
    let other_client = app.client(&p.t.admin, "Other Client").await;
    let r = app
        .post(
            "/api/v1/tickets",
            &p.t.admin,
            json!({"subject": "Theirs", "client_id": other_client, "description": "x"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let same_tenant = r.id();
    let q = portal(&app, "Elsewhere Co").await;
    let other_contact = signed_in(&app, &q, None).await;
    let other_tenant = open(&app, &other_contact, "Elsewhere").await["ticket"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut foreign = Vec::new();
    for (id, admin) in [(&same_tenant, &p.t.admin), (&other_tenant, &q.t.admin)] {
        set_status(&app, admin, id, "resolved").await;
        // What the client said on the phone: public, with a file.
        let m = staff_message(&app, admin, id, "incoming", "Done.", b"file").await;
        foreign.push((
            id.clone(),
            m["attachments"][0]["id"].as_str().unwrap().to_owned(),
        ));
    }
    let state = "SELECT string_agg(t.status || ':' || (SELECT count(*) FROM ticket_messages m \
                 WHERE m.ticket_id = t.id), ',' ORDER BY t.id) FROM tickets t";
    let before: String = sqlx::query_scalar(state)
        .fetch_one(&app.owner)
        .await
        .unwrap();
    for (id, att) in &foreign {
        for (method, path, body) in [
            (Method::GET, format!("{TICKETS}/{id}"), None),
            (
                Method::POST,
                format!("{TICKETS}/{id}/replies"),
                Some(json!({"body": "sneaky"})),
            ),
            (
                Method::POST,
                format!("{TICKETS}/{id}/close"),
                Some(json!({})),
            ),
            (
                Method::POST,
                format!("{TICKETS}/{id}/reopen"),
                Some(json!({})),
            ),
            (
                Method::GET,
                format!("{TICKETS}/{id}/attachments/{att}"),
                None,
            ),
            // Their attachment under my ticket.
            (
                Method::GET,
                format!("{TICKETS}/{mine}/attachments/{att}"),
                None,
            ),
        ] {
            let r = app.call(method, &path, Some(&contact), body).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.body);
            assert_eq!(r.error_code(), "not_found", "{path}");
        }
    }
    // A nonexistent id answers alike.
    let none = uuid::Uuid::now_v7();
    let r = app.get(&format!("{TICKETS}/{none}"), &contact).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let after: String = sqlx::query_scalar(state)
        .fetch_one(&app.owner)
        .await
        .unwrap();
    assert_eq!(before, after);
    assert_eq!(ids(&app.get(TICKETS, &contact).await), vec![mine.clone()]);
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE action LIKE 'portal.ticket_%' AND action <> 'portal.ticket_opened'")
            .await,
        0
    );
}

#[tokio::test]
async fn portal_tickets_routes_refuse_staff_tokens_and_staff_ticket_routes_refuse_contacts() {
    let app = TestApp::new().await;
    let p = portal(&app, "Tokens Co").await;
    let contact = signed_in(&app, &p, None).await;
    let id = open(&app, &contact, "Mine").await["ticket"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (method, path) in [
        (Method::GET, TICKETS.to_owned()),
        (Method::POST, TICKETS.to_owned()),
        (Method::GET, format!("{TICKETS}/{id}")),
        (Method::POST, format!("{TICKETS}/{id}/replies")),
        (Method::POST, format!("{TICKETS}/{id}/close")),
        (Method::POST, format!("{TICKETS}/{id}/reopen")),
    ] {
        let body = (method == Method::POST)
            .then(|| json!({"subject": "x", "description": "y", "body": "z"}));
        let r = app.call(method, &path, Some(&p.t.admin), body).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}: {}", r.body);
    }
    for (method, path, body) in [
        (Method::GET, format!("/api/v1/tickets/{id}"), None),
        (Method::GET, format!("/api/v1/tickets/{id}/messages"), None),
        (
            Method::POST,
            format!("/api/v1/tickets/{id}/messages"),
            Some(json!({"kind": "note", "body": "x"})),
        ),
        (
            Method::POST,
            format!("/api/v1/tickets/{id}/status"),
            Some(json!({"status": "closed"})),
        ),
    ] {
        let r = app.call(method, &path, Some(&contact), body).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}: {}", r.body);
    }
    let s = app.get(&format!("/api/v1/tickets/{id}"), &p.t.admin).await;
    assert_eq!(s.body["status"], "new");
}

async fn post_with_key(app: &TestApp, path: &str, token: &str, key: &str, body: Value) -> Response {
    let req = axum::http::Request::builder()
        .method("POST")
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .header("idempotency-key", key)
        .body(axum::body::Body::from(serde_json::to_vec(&body).unwrap()))
        .unwrap();
    app.raw(req).await
}

#[tokio::test]
async fn portal_tickets_a_retried_open_or_reply_with_the_same_key_happens_once() {
    let app = TestApp::new().await;
    let p = portal(&app, "Retry Portal Co").await;
    let contact = signed_in(&app, &p, None).await;
    let body = json!({"subject": "Once", "description": "Only once, please."});
    let first = post_with_key(&app, TICKETS, &contact, "open-1", body.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let again = post_with_key(&app, TICKETS, &contact, "open-1", body).await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.body, first.body);
    let id = first.body["ticket"]["id"].as_str().unwrap().to_owned();
    assert_eq!(ids(&app.get(TICKETS, &contact).await), vec![id.clone()]);

    let path = format!("{TICKETS}/{id}/replies");
    let reply = json!({"body": "One more thing."});
    let first = post_with_key(&app, &path, &contact, "reply-1", reply.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let again = post_with_key(&app, &path, &contact, "reply-1", reply).await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
    assert_eq!(again.body["id"], first.body["id"]);
    let thread = app.get(&format!("{TICKETS}/{id}"), &contact).await;
    assert_eq!(
        thread.body["messages"].as_array().unwrap().len(),
        2,
        "{}",
        thread.body
    );
    assert_eq!(audit_actors(&app, "portal.ticket_replied").await.len(), 1);
    // The key is the contact's: another request under it is refused.
    let r = post_with_key(&app, &path, &contact, "reply-1", json!({"body": "Other"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.error_code(), "idempotency_key_reused");
}
