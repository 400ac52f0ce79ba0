//! Tickets end to end: numbering and tokens, validation, filters and
//! pages, assignment and status (one by one and in bulk, all or none),
//! messages with attachments, threaded replies through a real SMTP server,
//! and the SLA clock over a moved clock with its notifications.

use axum::http::{Method, StatusCode};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use nestogy_domain::service_desk::tickets::{self, MessageKind, NewMessageRecord};
use nestogy_domain::{MailId, TicketId};
use nestogy_jobs::mail::Deliver;
use nestogy_jobs::tickets::SlaCheck;
use serde_json::{Value, json};

use crate::common::{PASSWORD, Response, SmtpSink, Tenant, TestApp, field_code, fields, use_sink};

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// A timestamp of a JSON body.
fn ts(v: &Value) -> DateTime<Utc> {
    utc(v.as_str().unwrap_or_else(|| panic!("not a timestamp: {v}")))
}

/// The ids of a page of tickets, in order.
fn ids(r: &Response) -> Vec<String> {
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

async fn open(app: &TestApp, token: &str, body: Value) -> Value {
    let r = app.post("/api/v1/tickets", token, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body
}

async fn ticket(app: &TestApp, token: &str, id: &str) -> Value {
    let r = app.get(&format!("/api/v1/tickets/{id}"), token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body
}

/// A user of `role` created by the admin: (id, email, signed-in token).
async fn staff(app: &TestApp, t: &Tenant, role: &str) -> (String, String, String) {
    let email = format!("{role}-{}@staff.example", uuid::Uuid::now_v7().simple());
    let r = app
        .post(
            "/api/v1/users",
            &t.admin,
            json!({"email": email, "name": format!("A {role}"), "role": role, "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    (r.id(), email.clone(), sign_in(app, &email).await)
}

/// A fresh access token (they last 15 minutes of the test clock).
async fn sign_in(app: &TestApp, email: &str) -> String {
    let r = app.login(email, PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["access_token"].as_str().unwrap().to_owned()
}

async fn contact(
    app: &TestApp,
    token: &str,
    client: &str,
    name: &str,
    email: Option<&str>,
) -> String {
    let r = app
        .post(
            &format!("/api/v1/clients/{client}/contacts"),
            token,
            json!({"name": name, "email": email}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.id()
}

async fn set_status(app: &TestApp, token: &str, id: &str, status: &str) -> Value {
    let r = app
        .post(
            &format!("/api/v1/tickets/{id}/status"),
            token,
            json!({"status": status}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body
}

#[tokio::test]
async fn tickets_are_numbered_per_tenant_with_a_token_and_sensible_defaults() {
    let app = TestApp::new().await;
    let a = app.tenant("Desk A").await;
    let b = app.tenant("Desk B").await;
    let client = app.client(&a.admin, "Acme").await;
    let ann = contact(&app, &a.admin, &client, "Ann", Some("ann@acme.example")).await;

    let first = open(
        &app,
        &a.admin,
        json!({"subject": "  Printer on fire  ", "client_id": client, "contact_id": ann,
               "description": "It smokes since the update.", "tags": [" VPN ", "vpn", "Urgent"]}),
    )
    .await;
    assert_eq!(first["number"], 1);
    assert_eq!(first["subject"], "Printer on fire");
    assert_eq!(first["status"], "new");
    assert_eq!(first["priority"], "medium");
    assert_eq!(first["source"], "api");
    assert_eq!(first["client_id"], client.as_str());
    assert_eq!(first["contact_id"], ann.as_str());
    assert!(first["assignee_id"].is_null());
    assert_eq!(first["tags"], json!(["vpn", "urgent"]));
    assert!(first["first_response_at"].is_null());
    assert!(first["resolved_at"].is_null() && first["closed_at"].is_null());
    // No policy for medium: no SLA.
    assert!(first["sla"]["state"].is_null(), "{}", first["sla"]);
    assert!(first["sla"]["response_due"].is_null());
    assert_eq!(ts(&first["created_at"]), app.clock_now());

    let token_ok = |t: &Value, n: i64| {
        let s = t["token"].as_str().unwrap();
        let prefix = format!("[#{n}-");
        assert!(s.starts_with(&prefix) && s.ends_with(']'), "{s}");
        let code = &s[prefix.len()..s.len() - 1];
        assert_eq!(code.len(), 6, "{s}");
        assert!(
            code.bytes()
                .all(|c| c.is_ascii_uppercase() && c != b'O' && c != b'I'
                    || (b'2'..=b'9').contains(&c)),
            "{s}"
        );
        code.to_owned()
    };
    let c1 = token_ok(&first, 1);

    let second = open(
        &app,
        &a.admin,
        json!({"subject": "Second", "priority": "low"}),
    )
    .await;
    assert_eq!(second["number"], 2);
    assert_eq!(second["priority"], "low");
    assert!(second["client_id"].is_null());
    let c2 = token_ok(&second, 2);
    assert_ne!(c1, c2, "each ticket has a code of its own");

    // Another tenant counts from 1 too.
    let other = open(&app, &b.admin, json!({"subject": "B's first"})).await;
    assert_eq!(other["number"], 1);
    token_ok(&other, 1);
    let third = open(&app, &a.admin, json!({"subject": "Third"})).await;
    assert_eq!(third["number"], 3);

    // The description is the first, incoming message; no description, no message.
    let id = first["id"].as_str().unwrap();
    let m = app
        .get(&format!("/api/v1/tickets/{id}/messages"), &a.admin)
        .await;
    assert_eq!(m.status, StatusCode::OK);
    let msgs = m.body.as_array().unwrap();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0]["kind"], "incoming");
    assert_eq!(msgs[0]["body"], "It smokes since the update.");
    assert_eq!(msgs[0]["author_id"], a.admin_id.to_string());
    let none = app
        .get(
            &format!(
                "/api/v1/tickets/{}/messages",
                second["id"].as_str().unwrap()
            ),
            &a.admin,
        )
        .await;
    assert_eq!(none.body, json!([]));

    // Creation is in the history and in the audit log.
    let h = app
        .get(&format!("/api/v1/tickets/{id}/history"), &a.admin)
        .await;
    assert_eq!(h.body["status_changes"].as_array().unwrap().len(), 1);
    assert!(h.body["status_changes"][0]["from"].is_null());
    assert_eq!(h.body["status_changes"][0]["to"], "new");
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE action = 'ticket.created'")
            .await,
        4
    );
}

#[tokio::test]
async fn creating_a_ticket_names_every_bad_field() {
    let app = TestApp::new().await;
    let t = app.tenant("Strict Desk").await;
    let acme = app.client(&t.admin, "Acme").await;
    let other = app.client(&t.admin, "Other").await;
    let bo = contact(&app, &t.admin, &other, "Bo", Some("bo@other.example")).await;
    let nowhere = uuid::Uuid::now_v7().to_string();

    let r = app
        .post("/api/v1/tickets", &t.admin, json!({"subject": "   "}))
        .await;
    assert_eq!(fields(&r), ["subject"]);
    let r = app
        .post(
            "/api/v1/tickets",
            &t.admin,
            json!({"subject": "x".repeat(301)}),
        )
        .await;
    assert_eq!(fields(&r), ["subject"]);
    let r = app
        .post(
            "/api/v1/tickets",
            &t.admin,
            json!({"subject": "", "client_id": nowhere, "tags": ["ok", ""]}),
        )
        .await;
    assert_eq!(fields(&r), ["subject", "tags", "client_id"]);
    assert_eq!(field_code(&r, "client_id"), "not_found");
    let r = app
        .post(
            "/api/v1/tickets",
            &t.admin,
            json!({"subject": "Wrong contact", "client_id": acme, "contact_id": bo}),
        )
        .await;
    assert_eq!(fields(&r), ["contact_id"]);
    assert_eq!(field_code(&r, "contact_id"), "other_client");
    let r = app
        .post(
            "/api/v1/tickets",
            &t.admin,
            json!({"subject": "Contact alone", "contact_id": bo}),
        )
        .await;
    assert_eq!(field_code(&r, "contact_id"), "requires_client");
    let r = app
        .post(
            "/api/v1/tickets",
            &t.admin,
            json!({"subject": "Ghost contact", "client_id": acme, "contact_id": nowhere}),
        )
        .await;
    assert_eq!(field_code(&r, "contact_id"), "not_found");

    // Only active techs and admins of this company hold tickets.
    let (accountant, _, _) = staff(&app, &t, "accountant").await;
    let r = app
        .post(
            "/api/v1/tickets",
            &t.admin,
            json!({"subject": "For the books", "assignee_id": accountant}),
        )
        .await;
    assert_eq!(fields(&r), ["assignee_id"]);
    let (gone, _, _) = staff(&app, &t, "tech").await;
    let d = app.delete(&format!("/api/v1/users/{gone}"), &t.admin).await;
    assert_eq!(d.status, StatusCode::OK, "{}", d.body);
    let r = app
        .post(
            "/api/v1/tickets",
            &t.admin,
            json!({"subject": "For a leaver", "assignee_id": gone}),
        )
        .await;
    assert_eq!(fields(&r), ["assignee_id"]);
    let r = app
        .post(
            "/api/v1/tickets",
            &t.admin,
            json!({"subject": "For a stranger", "assignee_id": nowhere}),
        )
        .await;
    assert_eq!(fields(&r), ["assignee_id"]);
    let r = app
        .post(
            "/api/v1/tickets",
            &t.admin,
            json!({"subject": "Bad priority", "priority": "urgent"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.error_code(), "invalid_body");

    // Nothing was stored, and the numbers have no gap.
    assert_eq!(app.count("SELECT count(*) FROM tickets").await, 0);
    let ok = open(&app, &t.admin, json!({"subject": "Fine"})).await;
    assert_eq!(ok["number"], 1);
}

#[tokio::test]
async fn a_ticket_is_read_changed_and_deleted() {
    let app = TestApp::new().await;
    let t = app.tenant("Change Desk").await;
    let acme = app.client(&t.admin, "Acme").await;
    let ann = contact(&app, &t.admin, &acme, "Ann", Some("ann@acme.example")).await;
    let globex = app.client(&t.admin, "Globex").await;
    let gil = contact(&app, &t.admin, &globex, "Gil", Some("gil@globex.example")).await;
    let created = open(
        &app,
        &t.admin,
        json!({"subject": "Slow laptop", "client_id": acme, "contact_id": ann}),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/tickets/{id}");
    assert_eq!(ticket(&app, &t.admin, &id).await["subject"], "Slow laptop");

    app.clock.advance(Duration::minutes(3));
    let r = app
        .patch(
            &path,
            &t.admin,
            json!({"subject": "Very slow laptop", "priority": "high", "tags": ["Hardware"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["subject"], "Very slow laptop");
    assert_eq!(r.body["priority"], "high");
    assert_eq!(r.body["tags"], json!(["hardware"]));
    assert_eq!(r.body["contact_id"], ann.as_str(), "absent fields stay");
    assert_eq!(ts(&r.body["updated_at"]), app.clock_now());
    assert_eq!(r.body["number"], created["number"]);
    assert_eq!(r.body["token"], created["token"]);

    // Another client without a contact drops Acme's contact.
    let r = app
        .patch(&path, &t.admin, json!({"client_id": globex}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["client_id"], globex.as_str());
    assert!(r.body["contact_id"].is_null(), "{}", r.body);
    // A contact of another client is refused, and nothing changes.
    let r = app.patch(&path, &t.admin, json!({"contact_id": ann})).await;
    assert_eq!(fields(&r), ["contact_id"]);
    let r = app
        .patch(
            &path,
            &t.admin,
            json!({"client_id": acme, "contact_id": gil}),
        )
        .await;
    assert_eq!(fields(&r), ["contact_id"]);
    let r = app.patch(&path, &t.admin, json!({"subject": " "})).await;
    assert_eq!(fields(&r), ["subject"]);
    let now = ticket(&app, &t.admin, &id).await;
    assert_eq!(now["client_id"], globex.as_str());
    assert_eq!(now["subject"], "Very slow laptop");
    // The client's own contact is fine; null clears.
    let r = app.patch(&path, &t.admin, json!({"contact_id": gil})).await;
    assert_eq!(r.body["contact_id"], gil.as_str(), "{}", r.body);
    let r = app.patch(&path, &t.admin, json!({"client_id": null})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body["client_id"].is_null() && r.body["contact_id"].is_null());
    let r = app
        .patch(
            &path,
            &t.admin,
            json!({"client_id": globex, "contact_id": gil}),
        )
        .await;
    assert_eq!(r.body["contact_id"], gil.as_str(), "{}", r.body);

    // Deleting the contact takes it off the ticket.
    let d = app
        .delete(
            &format!("/api/v1/clients/{globex}/contacts/{gil}"),
            &t.admin,
        )
        .await;
    assert_eq!(d.status, StatusCode::NO_CONTENT, "{}", d.body);
    assert!(ticket(&app, &t.admin, &id).await["contact_id"].is_null());

    // A client with tickets is not deleted.
    let d = app
        .delete(&format!("/api/v1/clients/{globex}"), &t.admin)
        .await;
    assert_eq!(d.status, StatusCode::CONFLICT, "{}", d.body);
    assert_eq!(d.error_code(), "client_has_tickets");

    let d = app.delete(&path, &t.admin).await;
    assert_eq!(d.status, StatusCode::NO_CONTENT, "{}", d.body);
    assert_eq!(app.get(&path, &t.admin).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.delete(&path, &t.admin).await.status,
        StatusCode::NOT_FOUND
    );
    let r = app.patch(&path, &t.admin, json!({"subject": "x"})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error_code(), "not_found");
    // Its messages and history went with it; now the client can go.
    assert_eq!(
        app.count("SELECT count(*) FROM ticket_status_changes")
            .await,
        0
    );
    let d = app
        .delete(&format!("/api/v1/clients/{globex}"), &t.admin)
        .await;
    assert_eq!(d.status, StatusCode::NO_CONTENT, "{}", d.body);
}

/// The search vector covers the subject and the whole thread: a changed
/// subject keeps the messages' words, and a thread past a tsvector's 1 MB
/// still takes every message.
#[tokio::test]
async fn the_search_covers_the_thread_through_a_subject_change_and_a_huge_thread() {
    let app = TestApp::new().await;
    let t = app.tenant("Search Desk").await;
    let found = async |q: &str| {
        let r = app.get(&format!("/api/v1/tickets?q={q}"), &t.admin).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        ids(&r)
    };
    let id = open(
        &app,
        &t.admin,
        json!({"subject": "Printer jams", "description": "The quokka tray is stuck."}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .patch(
            &format!("/api/v1/tickets/{id}"),
            &t.admin,
            json!({"subject": "Toner low"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        found("quokka").await,
        std::slice::from_ref(&id),
        "the description's words"
    );
    assert_eq!(
        found("toner").await,
        std::slice::from_ref(&id),
        "the new subject's words"
    );
    assert!(found("printer").await.is_empty(), "the old subject's words");

    // Twelve notes of 100,000 characters of words seen nowhere else: 1.6 MB
    // of words, more than one tsvector holds (1 MB).
    for n in 0..12 {
        let body: String = (0..11_000).map(|i| format!("w{n}x{i:05} ")).collect();
        let r = app
            .post(
                &format!("/api/v1/tickets/{id}/messages"),
                &t.admin,
                json!({"kind": "note", "body": &body[..body.len().min(100_000)]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "note {n}: {}", r.body);
    }
    let r = app
        .get(&format!("/api/v1/tickets/{id}/messages"), &t.admin)
        .await;
    assert_eq!(r.body.as_array().map(Vec::len), Some(13), "every note kept");
    assert_eq!(
        found("w0x00001").await,
        std::slice::from_ref(&id),
        "the first note's words"
    );
    assert_eq!(found("quokka").await, std::slice::from_ref(&id));
    assert!(
        found("w11x00001").await.is_empty(),
        "the words past the vector's limit are not indexed (the limit was reached)"
    );
}

#[tokio::test]
async fn the_list_filters_by_every_field_and_searches_messages() {
    let app = TestApp::new().await;
    let t = app.tenant("Filter Desk").await;
    let (tech, _, _) = staff(&app, &t, "tech").await;
    let acme = app.client(&t.admin, "Acme").await;
    let globex = app.client(&t.admin, "Globex").await;
    let id = |v: Value| v["id"].as_str().unwrap().to_owned();
    let printer = id(open(
        &app,
        &t.admin,
        json!({"subject": "Printer jams", "client_id": acme, "priority": "high",
               "tags": ["hardware"], "assignee_id": tech}),
    )
    .await);
    let vpn = id(open(
        &app,
        &t.admin,
        json!({"subject": "VPN down", "client_id": globex, "priority": "low", "tags": ["network", "Remote"]}),
    )
    .await);
    let mail = id(open(
        &app,
        &t.admin,
        json!({"subject": "Mail is slow", "client_id": acme,
               "description": "Outlook hangs when the quokka calendar syncs."}),
    )
    .await);
    let done = id(open(&app, &t.admin, json!({"subject": "Old request"})).await);
    set_status(&app, &t.admin, &vpn, "in_progress").await;
    set_status(&app, &t.admin, &done, "resolved").await;
    // A note's words are found too.
    let n = app
        .post(
            &format!("/api/v1/tickets/{vpn}/messages"),
            &t.admin,
            json!({"kind": "note", "body": "Firewall rule for the wombat gateway"}),
        )
        .await;
    assert_eq!(n.status, StatusCode::CREATED, "{}", n.body);

    let list = async |q: &str| {
        let r = app.get(&format!("/api/v1/tickets?{q}"), &t.admin).await;
        let got = ids(&r);
        assert_eq!(r.body["total"], got.len(), "{q}");
        sorted(got)
    };
    let all = list("").await;
    assert_eq!(all.len(), 4);
    // Newest first.
    let r = app.get("/api/v1/tickets", &t.admin).await;
    assert_eq!(
        ids(&r),
        [done.clone(), mail.clone(), vpn.clone(), printer.clone()]
    );

    assert_eq!(
        list("status=new").await,
        sorted(vec![printer.clone(), mail.clone()])
    );
    assert_eq!(
        list("status=in_progress,resolved").await,
        sorted(vec![vpn.clone(), done.clone()])
    );
    assert_eq!(list("status=closed").await, Vec::<String>::new());
    assert_eq!(list("priority=high").await, std::slice::from_ref(&printer));
    assert_eq!(
        list("priority=medium").await,
        sorted(vec![mail.clone(), done.clone()])
    );
    assert_eq!(
        list(&format!("client_id={acme}")).await,
        sorted(vec![printer.clone(), mail.clone()])
    );
    assert_eq!(
        list(&format!("assignee_id={tech}")).await,
        std::slice::from_ref(&printer)
    );
    assert_eq!(
        list("unassigned=true").await,
        sorted(vec![vpn.clone(), mail.clone(), done.clone()])
    );
    assert_eq!(list("unassigned=false").await.len(), 4);
    assert_eq!(list("tag=hardware").await, std::slice::from_ref(&printer));
    assert_eq!(
        list("tag=REMOTE").await,
        std::slice::from_ref(&vpn),
        "tags match lowercased"
    );
    assert_eq!(list("tag=software").await, Vec::<String>::new());
    // Words only in a message body (the description; a note).
    assert_eq!(list("q=quokka").await, std::slice::from_ref(&mail));
    assert_eq!(list("q=wombat").await, std::slice::from_ref(&vpn));
    // Words of the subject.
    assert_eq!(list("q=printer").await, std::slice::from_ref(&printer));
    assert_eq!(
        list("q=Printer%20jams").await,
        std::slice::from_ref(&printer)
    );
    assert_eq!(
        list("q=%22jams%20printer%22").await,
        Vec::<String>::new(),
        "a phrase keeps its order"
    );
    assert_eq!(list("q=giraffe").await, Vec::<String>::new());
    // Filters combine.
    assert_eq!(
        list(&format!("client_id={acme}&priority=medium")).await,
        std::slice::from_ref(&mail)
    );
    assert_eq!(
        list(&format!("client_id={acme}&status=new&q=quokka")).await,
        std::slice::from_ref(&mail)
    );
    assert_eq!(
        list(&format!("client_id={globex}&q=quokka")).await,
        Vec::<String>::new()
    );
    // The SLA state of tickets without a policy is none of the states.
    assert_eq!(list("sla_state=ok").await, Vec::<String>::new());

    // Bad queries.
    let r = app.get("/api/v1/tickets?status=new,bogus", &t.admin).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.error_code(), "invalid_query");
    assert!(r.body.to_string().contains("bogus"), "{}", r.body);
    let r = app.get("/api/v1/tickets?limit=0", &t.admin).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let r = app
        .get(&format!("/api/v1/tickets?q={}", "a".repeat(201)), &t.admin)
        .await;
    assert_eq!(fields(&r), ["q"]);
    for q in [
        "priority=urgent",
        "client_id=nope",
        "unassigned=maybe",
        "sla_state=late",
        "limit=x",
        "nope=1",
    ] {
        let r = app.get(&format!("/api/v1/tickets?{q}"), &t.admin).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}: {}", r.body);
        assert_eq!(r.error_code(), "invalid_query", "{q}");
    }
}

#[tokio::test]
async fn five_tickets_come_two_at_a_time_by_cursor() {
    let app = TestApp::new().await;
    let t = app.tenant("Page Desk").await;
    let mut made = Vec::new();
    for i in 0..5 {
        let tk = open(&app, &t.admin, json!({"subject": format!("Ticket {i}")})).await;
        made.push(tk["id"].as_str().unwrap().to_owned());
    }
    made.reverse();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/tickets?limit=2&cursor={c}"),
            None => "/api/v1/tickets?limit=2".to_owned(),
        };
        let r = app.get(&path, &t.admin).await;
        let page = ids(&r);
        assert!(page.len() <= 2);
        assert_eq!(r.body["total"], 5);
        seen.extend(page);
        pages += 1;
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
        assert!(pages < 10, "the cursor does not end");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, made, "every ticket once, newest first");
    // The cursor works with a filter too.
    let r = app
        .get("/api/v1/tickets?limit=2&status=new&q=ticket", &t.admin)
        .await;
    assert_eq!(ids(&r), made[..2]);
    let c = r.body["next_cursor"].as_str().unwrap();
    let r = app
        .get(
            &format!("/api/v1/tickets?limit=2&status=new&q=ticket&cursor={c}"),
            &t.admin,
        )
        .await;
    assert_eq!(ids(&r), made[2..4]);
    let r = app.get("/api/v1/tickets?cursor=garbage", &t.admin).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
}

#[tokio::test]
async fn assigning_and_moving_a_ticket_through_its_statuses() {
    let app = TestApp::new().await;
    let t = app.tenant("Flow Desk").await;
    let (tech, tech_email, tech_token) = staff(&app, &t, "tech").await;
    let (accountant, _, accountant_token) = staff(&app, &t, "accountant").await;
    let created = open(&app, &t.admin, json!({"subject": "New starter"})).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let assign = format!("/api/v1/tickets/{id}/assign");

    // A tech takes the ticket: no mail to themselves.
    let r = app
        .post(&assign, &tech_token, json!({"assignee_id": tech}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["assignee_id"], tech.as_str());
    assert_eq!(
        app.count("SELECT count(*) FROM mail_messages WHERE template = 'ticket_assigned'")
            .await,
        0
    );
    // Not to an accountant; not by an accountant.
    let r = app
        .post(&assign, &tech_token, json!({"assignee_id": accountant}))
        .await;
    assert_eq!(fields(&r), ["assignee_id"]);
    let r = app
        .post(&assign, &accountant_token, json!({"assignee_id": null}))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        ticket(&app, &t.admin, &id).await["assignee_id"],
        tech.as_str()
    );
    // Unassigned, then given to the tech by the admin: the tech is told.
    let r = app
        .post(&assign, &t.admin, json!({"assignee_id": null}))
        .await;
    assert!(r.body["assignee_id"].is_null(), "{}", r.body);
    let r = app
        .post(&assign, &t.admin, json!({"assignee_id": tech}))
        .await;
    assert_eq!(r.body["assignee_id"], tech.as_str());
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM mail_messages WHERE template = 'ticket_assigned' \
             AND recipients = ARRAY['{tech_email}']"
        ))
        .await,
        1
    );
    // The same assignee again changes nothing and tells no one.
    app.post(&assign, &t.admin, json!({"assignee_id": tech}))
        .await;
    assert_eq!(
        app.count("SELECT count(*) FROM mail_messages WHERE template = 'ticket_assigned'")
            .await,
        1
    );

    let step = |app: &TestApp| app.clock.advance(Duration::minutes(1));
    step(&app);
    let r = set_status(&app, &tech_token, &id, "in_progress").await;
    assert_eq!(r["status"], "in_progress");
    assert!(r["resolved_at"].is_null());
    step(&app);
    let resolved_at = app.clock_now();
    let r = set_status(&app, &tech_token, &id, "resolved").await;
    assert_eq!(ts(&r["resolved_at"]), resolved_at);
    assert!(r["closed_at"].is_null());
    step(&app);
    let r = set_status(&app, &t.admin, &id, "closed").await;
    assert_eq!(ts(&r["closed_at"]), app.clock_now());
    assert_eq!(
        ts(&r["resolved_at"]),
        resolved_at,
        "closing keeps the resolution time"
    );
    step(&app);
    // The same status again is no change.
    set_status(&app, &t.admin, &id, "closed").await;
    let r = set_status(&app, &tech_token, &id, "open").await;
    assert!(
        r["resolved_at"].is_null() && r["closed_at"].is_null(),
        "{r}"
    );
    step(&app);
    // Closing straight from open stamps both.
    let r = set_status(&app, &tech_token, &id, "closed").await;
    assert_eq!(ts(&r["closed_at"]), app.clock_now());
    assert_eq!(ts(&r["resolved_at"]), app.clock_now());
    let r = app
        .post(
            &format!("/api/v1/tickets/{id}/status"),
            &tech_token,
            json!({"status": "done"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.error_code(), "invalid_body");
    let r = app
        .post(
            &format!("/api/v1/tickets/{id}/status"),
            &accountant_token,
            json!({"status": "open"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let h = app
        .get(&format!("/api/v1/tickets/{id}/history"), &tech_token)
        .await;
    assert_eq!(h.status, StatusCode::OK, "{}", h.body);
    let changes = h.body["status_changes"].as_array().unwrap();
    let pairs: Vec<(Value, Value)> = changes
        .iter()
        .map(|c| (c["from"].clone(), c["to"].clone()))
        .collect();
    assert_eq!(
        pairs,
        [
            (Value::Null, json!("new")),
            (json!("new"), json!("in_progress")),
            (json!("in_progress"), json!("resolved")),
            (json!("resolved"), json!("closed")),
            (json!("closed"), json!("open")),
            (json!("open"), json!("closed")),
        ]
    );
    let who: Vec<&str> = changes
        .iter()
        .map(|c| c["user_id"].as_str().unwrap())
        .collect();
    let admin = t.admin_id.to_string();
    assert_eq!(
        who,
        [admin.as_str(), &tech, &tech, &admin, &tech, &tech],
        "who made each change"
    );
    let times: Vec<DateTime<Utc>> = changes.iter().map(|c| ts(&c["at"])).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    assert_eq!(h.body["sla_events"], json!([]));
}

#[tokio::test]
async fn bulk_changes_are_all_or_none() {
    let app = TestApp::new().await;
    let t = app.tenant("Bulk Desk").await;
    let b = app.tenant("Other Desk").await;
    let (tech, _, tech_token) = staff(&app, &t, "tech").await;
    let mut mine = Vec::new();
    for i in 0..3 {
        let tk = open(&app, &t.admin, json!({"subject": format!("Bulk {i}")})).await;
        mine.push(tk["id"].as_str().unwrap().to_owned());
    }
    let theirs = open(&app, &b.admin, json!({"subject": "Not yours"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let unknown = uuid::Uuid::now_v7().to_string();

    let unchanged = async || {
        for id in &mine {
            let tk = ticket(&app, &t.admin, id).await;
            assert_eq!(tk["status"], "new", "{id}");
            assert!(tk["assignee_id"].is_null(), "{id}");
        }
        let tk = ticket(&app, &b.admin, &theirs).await;
        assert_eq!(tk["status"], "new");
        assert!(tk["assignee_id"].is_null());
    };
    // One unknown id among valid ones: nothing changes, and it is named.
    let r = app
        .post(
            "/api/v1/tickets/bulk-assign",
            &tech_token,
            json!({"ids": [mine[0], unknown, mine[1]], "assignee_id": tech}),
        )
        .await;
    assert_eq!(fields(&r), ["ids"]);
    let text = r.body.to_string();
    assert!(text.contains(&unknown), "{text}");
    assert!(
        !text.contains(&mine[0]),
        "only the unknown id is named: {text}"
    );
    unchanged().await;
    let r = app
        .post(
            "/api/v1/tickets/bulk-status",
            &tech_token,
            json!({"ids": [mine[0], mine[1], mine[2], unknown], "status": "resolved"}),
        )
        .await;
    assert_eq!(fields(&r), ["ids"]);
    assert!(r.body.to_string().contains(&unknown));
    unchanged().await;
    // Another tenant's ticket is unknown here.
    for (path, body) in [
        (
            "/api/v1/tickets/bulk-status",
            json!({"ids": [mine[0], theirs], "status": "closed"}),
        ),
        (
            "/api/v1/tickets/bulk-assign",
            json!({"ids": [theirs, mine[2]], "assignee_id": tech}),
        ),
    ] {
        let r = app.post(path, &t.admin, body).await;
        assert_eq!(fields(&r), ["ids"], "{path}");
        assert!(r.body.to_string().contains(&theirs), "{path}: {}", r.body);
    }
    unchanged().await;
    // Too many, or none.
    let many: Vec<String> = (0..501).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    for (path, body) in [
        (
            "/api/v1/tickets/bulk-status",
            json!({"ids": many, "status": "closed"}),
        ),
        (
            "/api/v1/tickets/bulk-assign",
            json!({"ids": many, "assignee_id": null}),
        ),
        (
            "/api/v1/tickets/bulk-status",
            json!({"ids": [], "status": "closed"}),
        ),
    ] {
        let r = app.post(path, &t.admin, body).await;
        assert_eq!(fields(&r), ["ids"], "{path}");
        assert_eq!(field_code(&r, "ids"), "out_of_range");
    }
    // Bulk changes need ticket rights, and an assignee who may hold tickets.
    let (accountant_id, _, accountant) = staff(&app, &t, "accountant").await;
    let r = app
        .post(
            "/api/v1/tickets/bulk-assign",
            &t.admin,
            json!({"ids": mine, "assignee_id": accountant_id}),
        )
        .await;
    assert_eq!(fields(&r), ["assignee_id"]);
    let r = app
        .post(
            "/api/v1/tickets/bulk-status",
            &accountant,
            json!({"ids": [mine[0]], "status": "closed"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    unchanged().await;
    assert_eq!(
        app.count("SELECT count(*) FROM ticket_status_changes")
            .await,
        4,
        "only the creations"
    );

    // All valid: all change; a repeated id counts once.
    let r = app
        .post(
            "/api/v1/tickets/bulk-assign",
            &t.admin,
            json!({"ids": [mine[0], mine[1], mine[0]], "assignee_id": tech}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["changed"].as_array().unwrap().len(), 2);
    // Already theirs: not changed again.
    let r = app
        .post(
            "/api/v1/tickets/bulk-assign",
            &t.admin,
            json!({"ids": [mine[0], mine[2]], "assignee_id": tech}),
        )
        .await;
    let changed: Vec<&str> = r.body["changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(changed, [mine[2].as_str()]);
    let r = app
        .post(
            "/api/v1/tickets/bulk-status",
            &tech_token,
            json!({"ids": mine, "status": "resolved"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["changed"].as_array().unwrap().len(), 3);
    for id in &mine {
        let tk = ticket(&app, &t.admin, id).await;
        assert_eq!(tk["status"], "resolved");
        assert_eq!(tk["assignee_id"], tech.as_str());
        assert_eq!(ts(&tk["resolved_at"]), app.clock_now());
    }
    assert_eq!(
        ticket(&app, &b.admin, &theirs).await["status"],
        "new",
        "the other tenant's ticket is untouched"
    );
}

#[tokio::test]
async fn notes_and_incoming_messages_and_what_they_do_to_the_status() {
    let app = TestApp::new().await;
    let t = app.tenant("Message Desk").await;
    let (_, _, tech) = staff(&app, &t, "tech").await;
    let id = open(&app, &t.admin, json!({"subject": "Backup failed"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let post = async |body: Value| {
        app.post(&format!("/api/v1/tickets/{id}/messages"), &tech, body)
            .await
    };
    let r = post(json!({"kind": "note", "body": "Checked the NAS: disk 2 is dying."})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["message"]["kind"], "note");
    assert!(r.body["mail_id"].is_null() && r.body["job_id"].is_null());
    // A note is no response.
    let tk = ticket(&app, &tech, &id).await;
    assert_eq!(tk["status"], "new");
    assert!(tk["first_response_at"].is_null());

    app.clock.advance(Duration::minutes(5));
    set_status(&app, &tech, &id, "waiting_on_client").await;
    app.clock.advance(Duration::minutes(5));
    let r =
        post(json!({"kind": "incoming", "body": "Client called: they swapped the disk."})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let tk = ticket(&app, &tech, &id).await;
    assert_eq!(tk["status"], "open", "the client's word ends the wait");
    set_status(&app, &tech, &id, "resolved").await;
    post(json!({"kind": "incoming", "body": "It failed again tonight."})).await;
    let tk = ticket(&app, &tech, &id).await;
    assert_eq!(tk["status"], "open", "and reopens a resolved ticket");
    assert!(tk["resolved_at"].is_null());
    // A note on a resolved ticket leaves it resolved.
    set_status(&app, &tech, &id, "resolved").await;
    post(json!({"kind": "note", "body": "Ordered a new disk anyway."})).await;
    assert_eq!(ticket(&app, &tech, &id).await["status"], "resolved");

    for (body, field) in [
        (json!({"kind": "note", "body": "   "}), "body"),
        (json!({"kind": "note", "body": "x".repeat(100_001)}), "body"),
    ] {
        let r = post(body).await;
        assert_eq!(fields(&r), [field]);
    }
    let r = post(json!({"kind": "shout", "body": "hey"})).await;
    assert_eq!(r.error_code(), "invalid_body");

    let r = app
        .get(&format!("/api/v1/tickets/{id}/messages"), &t.admin)
        .await;
    let kinds: Vec<&str> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["note", "incoming", "incoming", "note"]);
    assert_eq!(r.body[1]["body"], "Client called: they swapped the disk.");
    let missing = uuid::Uuid::now_v7();
    let r = app
        .post(
            &format!("/api/v1/tickets/{missing}/messages"),
            &tech,
            json!({"kind": "note", "body": "hello?"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

/// A header of a raw message, unfolded.
fn header(raw: &str, name: &str) -> Option<String> {
    let raw = raw.replace("\r\n", "\n");
    let head = raw.split("\n\n").next().unwrap_or(&raw);
    let unfolded = head.replace("\n ", " ").replace("\n\t", " ");
    unfolded.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
    })
}

#[tokio::test]
async fn a_reply_is_mailed_to_the_contact_threaded_under_the_clients_message() {
    let app = TestApp::new().await;
    let t = app.tenant("Reply Desk").await;
    let sink = SmtpSink::start("accept");
    use_sink(&app, &t, &sink).await;
    let (tech_id, _, tech) = staff(&app, &t, "tech").await;
    let acme = app.client(&t.admin, "Acme").await;
    let ann = contact(&app, &t.admin, &acme, "Ann", Some("ann@acme.example")).await;
    let created = open(
        &app,
        &t.admin,
        json!({"subject": "Cannot print", "client_id": acme, "contact_id": ann}),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let token = created["token"].as_str().unwrap().to_owned();
    // The client's mail, as the mailbox poll would store it.
    let mut tx = app.db.tenant(t.id).await.unwrap();
    let tk = tickets::get(&mut tx, id.parse::<TicketId>().unwrap())
        .await
        .unwrap();
    tickets::add_message(
        &mut tx,
        &tk,
        NewMessageRecord {
            kind: MessageKind::Incoming,
            author_id: None,
            from_address: Some("ann@acme.example".into()),
            from_name: Some("Ann".into()),
            body: "The printer says PC LOAD LETTER.".into(),
            full_body: "The printer says PC LOAD LETTER.".into(),
            message_id: Some("<orig@client.example>".into()),
            inbound_id: None,
            mail_id: None,
            automated: None,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    app.clock.advance(Duration::minutes(7));
    let r = app
        .post(
            &format!("/api/v1/tickets/{id}/messages"),
            &tech,
            json!({"kind": "reply", "body": "Please load letter paper into tray 2."}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let msg = &r.body["message"];
    assert_eq!(msg["kind"], "reply");
    assert_eq!(msg["author_id"], tech_id.as_str());
    let reply_id = msg["message_id"].as_str().unwrap().to_owned();
    assert!(
        reply_id.starts_with('<') && reply_id.ends_with("@msp.test>"),
        "{reply_id}"
    );
    assert_eq!(msg["mail_id"], r.body["mail_id"]);
    assert!(r.body["job_id"].is_string(), "{}", r.body);
    let mail: MailId = r.body["mail_id"].as_str().unwrap().parse().unwrap();

    // The first reply is the first response and opens a new ticket.
    let tk = ticket(&app, &tech, &id).await;
    assert_eq!(tk["status"], "open");
    assert_eq!(ts(&tk["first_response_at"]), app.clock_now());
    let h = app
        .get(&format!("/api/v1/tickets/{id}/history"), &tech)
        .await;
    assert_eq!(h.body["status_changes"][1]["to"], "open");
    assert_eq!(h.body["status_changes"][1]["user_id"], tech_id.as_str());

    let out = app.run_job(Deliver { tenant: t.id, mail }).await.unwrap();
    assert_eq!(out["status"], "sent", "{out}");
    let got = sink.wait_for(1).await;
    assert_eq!(got[0]["rcpt_tos"], json!(["ann@acme.example"]));
    let subject = got[0]["subject"].as_str().unwrap();
    assert!(subject.contains(&token), "{subject}");
    assert!(subject.contains("Cannot print"), "{subject}");
    assert_eq!(got[0]["message_id"], reply_id.as_str());
    assert!(
        got[0]["text"]
            .as_str()
            .unwrap()
            .contains("Please load letter paper into tray 2."),
        "{}",
        got[0]["text"]
    );
    let raw = std::fs::read_to_string(sink.dir.join("1.eml")).unwrap();
    assert_eq!(
        header(&raw, "In-Reply-To").as_deref(),
        Some("<orig@client.example>"),
        "{raw}"
    );
    assert_eq!(
        header(&raw, "References").as_deref(),
        Some("<orig@client.example>"),
        "{raw}"
    );

    // A second reply answers the latest message and references both.
    app.clock.advance(Duration::minutes(1));
    let first_response = ts(&tk["first_response_at"]);
    let r = app
        .post(
            &format!("/api/v1/tickets/{id}/messages"),
            &tech,
            json!({"kind": "reply", "body": "Did that help?"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let mail: MailId = r.body["mail_id"].as_str().unwrap().parse().unwrap();
    app.run_job(Deliver { tenant: t.id, mail }).await.unwrap();
    sink.wait_for(2).await;
    let raw = std::fs::read_to_string(sink.dir.join("2.eml")).unwrap();
    assert_eq!(header(&raw, "In-Reply-To"), Some(reply_id.clone()), "{raw}");
    assert_eq!(
        header(&raw, "References"),
        Some(format!("<orig@client.example> {reply_id}")),
        "{raw}"
    );
    let tk = ticket(&app, &tech, &id).await;
    assert_eq!(
        ts(&tk["first_response_at"]),
        first_response,
        "the first stays first"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM mail_messages WHERE template = 'ticket_reply'")
            .await,
        2
    );
}

#[tokio::test]
async fn a_reply_with_no_one_to_mail_is_refused() {
    let app = TestApp::new().await;
    let t = app.tenant("Lonely Desk").await;
    let acme = app.client(&t.admin, "Acme").await;
    let mute = contact(&app, &t.admin, &acme, "No Mail", None).await;
    for body in [
        json!({"subject": "Walk-in"}),
        json!({"subject": "Phone only", "client_id": acme, "contact_id": mute}),
        json!({"subject": "Client only", "client_id": acme}),
    ] {
        let id = open(&app, &t.admin, body.clone()).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let r = app
            .post(
                &format!("/api/v1/tickets/{id}/messages"),
                &t.admin,
                json!({"kind": "reply", "body": "Hello?"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{body}: {}", r.body);
        assert_eq!(r.error_code(), "no_recipient");
        let tk = ticket(&app, &t.admin, &id).await;
        assert_eq!(tk["status"], "new");
        assert!(tk["first_response_at"].is_null());
        // A note is still possible.
        let r = app
            .post(
                &format!("/api/v1/tickets/{id}/messages"),
                &t.admin,
                json!({"kind": "note", "body": "Called them instead."}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    assert_eq!(app.count("SELECT count(*) FROM mail_messages").await, 0);
    assert_eq!(
        app.count("SELECT count(*) FROM ticket_messages WHERE kind = 'reply'")
            .await,
        0
    );
}

#[tokio::test]
async fn attachments_are_kept_and_served_byte_for_byte() {
    let app = TestApp::new().await;
    let t = app.tenant("Files Desk").await;
    let (_, _, tech) = staff(&app, &t, "tech").await;
    let id = open(&app, &t.admin, json!({"subject": "Logs attached"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = open(&app, &t.admin, json!({"subject": "Other"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let text = b"line one\nline two\n".to_vec();
    let blob: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
    let r = app
        .post(
            &format!("/api/v1/tickets/{id}/messages"),
            &tech,
            json!({"kind": "note", "body": "Logs from the server", "attachments": [
                {"filename": "server log.txt", "content_type": "text/plain", "content_base64": b64(&text)},
                {"filename": "dump.bin", "content_base64": b64(&blob)},
            ]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let atts = r.body["message"]["attachments"].as_array().unwrap().clone();
    assert_eq!(atts.len(), 2);
    assert_eq!(atts[0]["filename"], "server log.txt");
    assert_eq!(atts[0]["content_type"], "text/plain");
    assert_eq!(atts[0]["size_bytes"], text.len());
    assert_eq!(atts[1]["filename"], "dump.bin");
    assert_eq!(atts[1]["content_type"], "application/octet-stream");
    assert_eq!(atts[1]["size_bytes"], 3000);
    // The message list shows them too.
    let m = app
        .get(&format!("/api/v1/tickets/{id}/messages"), &tech)
        .await;
    assert_eq!(m.body[0]["attachments"], json!(atts));

    for (att, bytes, ctype) in [
        (&atts[0], &text, "text/plain"),
        (&atts[1], &blob, "application/octet-stream"),
    ] {
        let path = format!(
            "/api/v1/tickets/{id}/attachments/{}",
            att["id"].as_str().unwrap()
        );
        let (status, headers, got) = app.get_bytes(&path, &tech).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(&got, bytes, "{path}");
        assert_eq!(headers["content-type"], ctype);
        let disposition = headers["content-disposition"].to_str().unwrap();
        assert!(
            disposition.contains(att["filename"].as_str().unwrap()),
            "{disposition}"
        );
        // Not under another ticket.
        let wrong = format!(
            "/api/v1/tickets/{other}/attachments/{}",
            att["id"].as_str().unwrap()
        );
        let (status, _, _) = app.get_bytes(&wrong, &tech).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{wrong}");
    }
    let (status, _, _) = app
        .get_bytes(
            &format!("/api/v1/tickets/{id}/attachments/{}", uuid::Uuid::now_v7()),
            &tech,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Bad attachments: nothing is stored.
    let before = app.count("SELECT count(*) FROM ticket_messages").await;
    let good = json!({"filename": "ok.txt", "content_base64": b64(b"ok")});
    for (bad, code) in [
        (
            json!({"filename": "x.txt", "content_base64": "not base64!!"}),
            "invalid",
        ),
        (
            json!({"filename": "../etc/passwd", "content_base64": b64(b"x")}),
            "invalid",
        ),
        (
            json!({"filename": "a\\b.txt", "content_base64": b64(b"x")}),
            "invalid",
        ),
        (
            json!({"filename": "  ", "content_base64": b64(b"x")}),
            "invalid",
        ),
    ] {
        let r = app
            .post(
                &format!("/api/v1/tickets/{id}/messages"),
                &tech,
                json!({"kind": "note", "body": "Files", "attachments": [good, bad]}),
            )
            .await;
        assert_eq!(fields(&r), ["attachments[1]"], "{bad}");
        assert_eq!(field_code(&r, "attachments[1]"), code);
    }
    let eleven: Vec<Value> = (0..11)
        .map(|i| json!({"filename": format!("f{i}.txt"), "content_base64": b64(b"x")}))
        .collect();
    let r = app
        .post(
            &format!("/api/v1/tickets/{id}/messages"),
            &tech,
            json!({"kind": "note", "body": "Many", "attachments": eleven}),
        )
        .await;
    assert_eq!(fields(&r), ["attachments"]);
    assert_eq!(
        app.count("SELECT count(*) FROM ticket_messages").await,
        before
    );
    assert_eq!(
        app.count("SELECT count(*) FROM ticket_attachments").await,
        2
    );
}

// ---- SLA ----

/// The business-hours policy of the SLA tests: Monday to Friday 09:00 to
/// 17:00 (Europe/Berlin), first response in 60 minutes, resolution in 240,
/// warning at half of each.
fn office_policy() -> Value {
    json!({
        "first_response_minutes": 60,
        "resolution_minutes": 240,
        "warn_percent": 50,
        "business_hours": {
            "mon": ["09:00", "17:00"], "tue": ["09:00", "17:00"], "wed": ["09:00", "17:00"],
            "thu": ["09:00", "17:00"], "fri": ["09:00", "17:00"]
        },
        "use_holidays": true
    })
}

async fn sla_check(app: &TestApp, t: &Tenant) -> Value {
    app.run_job(SlaCheck { tenant: t.id }).await.unwrap()
}

/// The (target, state) of a ticket's SLA events, in order.
async fn events(app: &TestApp, token: &str, id: &str) -> Vec<(String, String)> {
    let h = app
        .get(&format!("/api/v1/tickets/{id}/history"), token)
        .await;
    assert_eq!(h.status, StatusCode::OK, "{}", h.body);
    h.body["sla_events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["target"].as_str().unwrap().to_owned(),
                e["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[tokio::test]
async fn the_sla_clock_runs_in_business_hours_skips_holidays_and_stands_still_while_waiting() {
    let app = TestApp::new().await;
    // Friday 16 January 2026, 16:50 in Berlin (CET, UTC+1).
    app.clock.set(utc("2026-01-16T15:50:00Z"));
    let t = app.tenant("Clock Desk").await;
    let email = "admin@clock-desk.example";
    let r = app
        .patch(
            "/api/v1/company",
            &t.admin,
            json!({"time_zone": "Europe/Berlin"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app
        .call(
            Method::PUT,
            "/api/v1/sla/policies/high",
            Some(&t.admin),
            Some(office_policy()),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["pause_statuses"], json!(["waiting_on_client"]));

    let created = open(
        &app,
        &t.admin,
        json!({"subject": "Server down", "priority": "high"}),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    // Response: 10 minutes on Friday (16:50-17:00), the weekend is closed,
    // 50 minutes on Monday from 09:00: due Monday 19 January 09:50 CET
    // (08:50 UTC). Resolution: 10 + 230 minutes: Monday 12:50 CET.
    assert_eq!(
        ts(&created["sla"]["response_due"]),
        utc("2026-01-19T08:50:00Z")
    );
    assert_eq!(
        ts(&created["sla"]["resolution_due"]),
        utc("2026-01-19T11:50:00Z")
    );
    assert_eq!(created["sla"]["state"], "ok");
    assert_eq!(created["sla"]["response_state"], "ok");
    assert_eq!(ts(&created["sla"]["checked_at"]), app.clock_now());

    // Saturday noon: only ten business minutes have passed.
    app.clock.set(utc("2026-01-17T11:00:00Z"));
    sla_check(&app, &t).await;
    let tok = sign_in(&app, email).await;
    let tk = ticket(&app, &tok, &id).await;
    assert_eq!(tk["sla"]["state"], "ok", "{}", tk["sla"]);
    assert_eq!(ts(&tk["sla"]["checked_at"]), app.clock_now());
    // Monday 09:00: still ten minutes.
    app.clock.set(utc("2026-01-19T08:00:00Z"));
    sla_check(&app, &t).await;
    let tok = sign_in(&app, email).await;
    assert_eq!(ticket(&app, &tok, &id).await["sla"]["state"], "ok");
    assert_eq!(events(&app, &tok, &id).await, []);
    // 09:19: 29 minutes, under half.
    app.clock.set(utc("2026-01-19T08:19:00Z"));
    sla_check(&app, &t).await;
    let tok = sign_in(&app, email).await;
    assert_eq!(ticket(&app, &tok, &id).await["sla"]["state"], "ok");
    // 09:20: 30 minutes, half the response target: warning.
    app.clock.set(utc("2026-01-19T08:20:00Z"));
    let out = sla_check(&app, &t).await;
    assert_eq!(out["events"], 1, "{out}");
    sla_check(&app, &t).await;
    let tk = ticket(&app, &tok, &id).await;
    assert_eq!(tk["sla"]["response_state"], "warning");
    assert_eq!(tk["sla"]["resolution_state"], "ok");
    assert_eq!(tk["sla"]["state"], "warning");
    assert_eq!(
        events(&app, &tok, &id).await,
        pairs(&[("response", "warning")])
    );
    // The list finds it by state.
    let r = app.get("/api/v1/tickets?sla_state=warning", &tok).await;
    assert_eq!(ids(&r), std::slice::from_ref(&id));
    // 09:49 still a warning; 09:50 breached.
    app.clock.set(utc("2026-01-19T08:49:00Z"));
    sla_check(&app, &t).await;
    let tok = sign_in(&app, email).await;
    assert_eq!(
        ticket(&app, &tok, &id).await["sla"]["response_state"],
        "warning"
    );
    app.clock.set(utc("2026-01-19T08:50:00Z"));
    sla_check(&app, &t).await;
    let out = sla_check(&app, &t).await;
    assert_eq!(out["events"], 0, "each event once: {out}");
    let tok = sign_in(&app, email).await;
    let tk = ticket(&app, &tok, &id).await;
    assert_eq!(tk["sla"]["response_state"], "breached");
    assert_eq!(tk["sla"]["state"], "breached");
    assert_eq!(
        events(&app, &tok, &id).await,
        pairs(&[("response", "warning"), ("response", "breached")])
    );
    let r = app.get("/api/v1/tickets?sla_state=breached", &tok).await;
    assert_eq!(ids(&r), std::slice::from_ref(&id));

    // Monday 12:00 CET: 190 business minutes, resolution in warning. The
    // client is asked something: the clock stands still.
    app.clock.set(utc("2026-01-19T11:00:00Z"));
    let tok = sign_in(&app, email).await;
    let tk = set_status(&app, &tok, &id, "waiting_on_client").await;
    assert_eq!(tk["sla"]["resolution_state"], "warning");
    assert_eq!(
        ts(&tk["sla"]["resolution_due"]),
        utc("2026-01-19T11:50:00Z")
    );
    // Still waiting at 16:30 CET: no breach (it would be without the pause),
    // and the due time has moved by the 4.5 paused business hours.
    app.clock.set(utc("2026-01-19T15:30:00Z"));
    sla_check(&app, &t).await;
    let tok = sign_in(&app, email).await;
    let tk = ticket(&app, &tok, &id).await;
    assert_eq!(tk["sla"]["resolution_state"], "warning", "{}", tk["sla"]);
    // 50 minutes remain: 16:30-17:00 and Tuesday 09:00-09:20 CET.
    assert_eq!(
        ts(&tk["sla"]["resolution_due"]),
        utc("2026-01-20T08:20:00Z")
    );
    // The answer comes on Tuesday 09:30 CET: 5.5 business hours paused
    // (12:00-17:00 and 09:00-09:30), so the 50 remaining minutes end at
    // Tuesday 10:20 CET. The response target, breached before the pause,
    // keeps its due time.
    app.clock.set(utc("2026-01-20T08:30:00Z"));
    let tok = sign_in(&app, email).await;
    let tk = set_status(&app, &tok, &id, "open").await;
    assert_eq!(
        ts(&tk["sla"]["resolution_due"]),
        utc("2026-01-20T09:20:00Z")
    );
    assert_eq!(ts(&tk["sla"]["response_due"]), utc("2026-01-19T08:50:00Z"));
    assert_eq!(tk["sla"]["resolution_state"], "warning");
    assert_eq!(tk["sla"]["response_state"], "breached");
    app.clock.set(utc("2026-01-20T09:19:00Z"));
    sla_check(&app, &t).await;
    let tok = sign_in(&app, email).await;
    assert_eq!(
        ticket(&app, &tok, &id).await["sla"]["resolution_state"],
        "warning"
    );
    app.clock.set(utc("2026-01-20T09:20:00Z"));
    sla_check(&app, &t).await;
    sla_check(&app, &t).await;
    let tok = sign_in(&app, email).await;
    assert_eq!(
        ticket(&app, &tok, &id).await["sla"]["resolution_state"],
        "breached"
    );
    assert_eq!(
        events(&app, &tok, &id).await,
        pairs(&[
            ("response", "warning"),
            ("response", "breached"),
            ("resolution", "warning"),
            ("resolution", "breached"),
        ])
    );
    // Resolved: the clock stops and the state stays.
    let tk = set_status(&app, &tok, &id, "resolved").await;
    assert_eq!(tk["sla"]["state"], "breached");
    assert_eq!(
        app.count("SELECT count(*) FROM sla_events").await,
        4,
        "nothing recorded twice"
    );

    // A holiday on the Monday after the next Friday moves a ticket's due
    // times to Tuesday.
    app.clock.set(utc("2026-01-23T15:50:00Z"));
    let tok = sign_in(&app, email).await;
    let next = open(&app, &tok, json!({"subject": "Again", "priority": "high"})).await;
    let next_id = next["id"].as_str().unwrap().to_owned();
    assert_eq!(
        ts(&next["sla"]["response_due"]),
        utc("2026-01-26T08:50:00Z")
    );
    let r = app
        .call(
            Method::PUT,
            "/api/v1/sla/holidays/2026-01-26",
            Some(&tok),
            Some(json!({"name": "Company day"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body, json!({"day": "2026-01-26", "name": "Company day"}));
    let out = sla_check(&app, &t).await;
    assert_eq!(out["events"], 0, "{out}");
    let tk = ticket(&app, &tok, &next_id).await;
    // Friday 10 minutes, Monday a holiday, Tuesday 27 January from 09:00.
    assert_eq!(ts(&tk["sla"]["response_due"]), utc("2026-01-27T08:50:00Z"));
    assert_eq!(
        ts(&tk["sla"]["resolution_due"]),
        utc("2026-01-27T11:50:00Z")
    );
    // On the holiday itself the clock does not run.
    app.clock.set(utc("2026-01-26T15:00:00Z"));
    sla_check(&app, &t).await;
    let tok = sign_in(&app, email).await;
    assert_eq!(ticket(&app, &tok, &next_id).await["sla"]["state"], "ok");
    // Without the holiday the Monday counts again.
    let r = app.delete("/api/v1/sla/holidays/2026-01-26", &tok).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    sla_check(&app, &t).await;
    let tk = ticket(&app, &tok, &next_id).await;
    assert_eq!(ts(&tk["sla"]["response_due"]), utc("2026-01-26T08:50:00Z"));
    assert_eq!(tk["sla"]["state"], "breached");
}

#[tokio::test]
async fn a_new_priority_applies_its_policy_at_once() {
    let app = TestApp::new().await;
    let t = app.tenant("Priority Desk").await;
    let r = app
        .call(
            Method::PUT,
            "/api/v1/sla/policies/critical",
            Some(&t.admin),
            Some(json!({"first_response_minutes": 15, "resolution_minutes": 120})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["warn_percent"], 80);
    assert!(r.body["business_hours"].is_null());
    let tk = open(&app, &t.admin, json!({"subject": "Quiet"})).await;
    let id = tk["id"].as_str().unwrap();
    assert!(tk["sla"]["response_due"].is_null());
    let created = ts(&tk["created_at"]);
    app.clock.advance(Duration::minutes(13));
    let r = app
        .patch(
            &format!("/api/v1/tickets/{id}"),
            &t.admin,
            json!({"priority": "critical"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Around the clock, counted from the ticket's creation.
    assert_eq!(
        ts(&r.body["sla"]["response_due"]),
        created + Duration::minutes(15)
    );
    assert_eq!(
        ts(&r.body["sla"]["resolution_due"]),
        created + Duration::hours(2)
    );
    assert_eq!(r.body["sla"]["response_state"], "warning");
    // Back to medium: no policy, no SLA.
    let r = app
        .patch(
            &format!("/api/v1/tickets/{id}"),
            &t.admin,
            json!({"priority": "medium"}),
        )
        .await;
    assert!(r.body["sla"]["state"].is_null(), "{}", r.body);
    assert!(r.body["sla"]["response_due"].is_null());
    let r = app
        .patch(
            &format!("/api/v1/tickets/{id}"),
            &t.admin,
            json!({"priority": "critical"}),
        )
        .await;
    assert_eq!(r.body["sla"]["response_state"], "warning");
    let deleted = app.delete("/api/v1/sla/policies/critical", &t.admin).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let again = app.delete("/api/v1/sla/policies/critical", &t.admin).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    // The next check drops the SLA of tickets whose policy is gone.
    sla_check(&app, &t).await;
    assert!(ticket(&app, &t.admin, id).await["sla"]["state"].is_null());
}

#[tokio::test]
async fn sla_warnings_and_breaches_are_mailed_once_to_the_assignee_or_else_the_admins() {
    let app = TestApp::new().await;
    let t = app.tenant("Notify Desk").await;
    let (tech, tech_email, _) = staff(&app, &t, "tech").await;
    let r = app
        .call(
            Method::PUT,
            "/api/v1/sla/policies/critical",
            Some(&t.admin),
            Some(json!({"first_response_minutes": 10, "resolution_minutes": 600, "warn_percent": 50})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let held = open(
        &app,
        &t.admin,
        json!({"subject": "Held", "priority": "critical", "assignee_id": tech}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let nobodys = open(
        &app,
        &t.admin,
        json!({"subject": "Nobody's", "priority": "critical"}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (leaver, _, _) = staff(&app, &t, "tech").await;
    let left = open(
        &app,
        &t.admin,
        json!({"subject": "Left behind", "priority": "critical", "assignee_id": leaver}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let d = app
        .delete(&format!("/api/v1/users/{leaver}"), &t.admin)
        .await;
    assert_eq!(d.status, StatusCode::OK, "{}", d.body);
    let sla_mails = async |to: &str, subject: &str| {
        app.count(&format!(
            "SELECT count(*) FROM mail_messages WHERE template = 'ticket_sla' \
             AND recipients = ARRAY['{to}'] AND subject_id = '{subject}'::uuid"
        ))
        .await
    };
    let admin = "admin@notify-desk.example";

    app.clock.advance(Duration::minutes(5));
    let out = sla_check(&app, &t).await;
    assert_eq!(out["notified"], 3, "{out}");
    assert_eq!(sla_mails(&tech_email, &held).await, 1);
    assert_eq!(sla_mails(admin, &nobodys).await, 1);
    // A ticket of someone who has left: the admins are told.
    assert_eq!(sla_mails(admin, &left).await, 1);
    sla_check(&app, &t).await;
    app.clock.advance(Duration::minutes(5));
    let out = sla_check(&app, &t).await;
    assert_eq!(out["notified"], 3, "{out}");
    let out = sla_check(&app, &t).await;
    assert_eq!(out["notified"], 0, "{out}");
    assert_eq!(sla_mails(&tech_email, &held).await, 2);
    assert_eq!(sla_mails(admin, &nobodys).await, 2);
    assert_eq!(sla_mails(admin, &left).await, 2);
    assert_eq!(
        app.count("SELECT count(*) FROM mail_messages WHERE template = 'ticket_sla'")
            .await,
        6
    );
    // The subject names the state and the ticket; each event links its mail.
    let subjects: Vec<String> = sqlx::query_scalar(
        "SELECT subject FROM mail_messages WHERE template = 'ticket_sla' ORDER BY created_at, subject",
    )
    .fetch_all(&app.owner)
    .await
    .unwrap();
    assert!(
        subjects.iter().any(|s| s.starts_with("SLA breached: [#1-")),
        "{subjects:?}"
    );
    assert!(
        subjects.iter().any(|s| s.starts_with("SLA warning: [#2-")),
        "{subjects:?}"
    );
    let tok = sign_in(&app, admin).await;
    let h = app
        .get(&format!("/api/v1/tickets/{held}/history"), &tok)
        .await;
    let evs = h.body["sla_events"].as_array().unwrap();
    assert_eq!(evs.len(), 2);
    assert!(evs.iter().all(|e| e["mail_id"].is_string()), "{evs:?}");
    // Delivery jobs were queued for them.
    assert_eq!(
        app.count(
            "SELECT count(*) FROM jobs WHERE kind = 'mail.deliver' AND payload->>'mail' IN \
             (SELECT id::text FROM mail_messages WHERE template = 'ticket_sla')"
        )
        .await,
        6
    );
}

#[tokio::test]
async fn a_breach_first_seen_by_a_status_change_is_still_notified() {
    let app = TestApp::new().await;
    let t = app.tenant("Missed Desk").await;
    let r = app
        .call(
            Method::PUT,
            "/api/v1/sla/policies/critical",
            Some(&t.admin),
            Some(json!({"first_response_minutes": 10, "resolution_minutes": 600})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let id = open(
        &app,
        &t.admin,
        json!({"subject": "Between checks", "priority": "critical"}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The ticket breaches between two checks, and someone touches it first.
    app.clock.advance(Duration::minutes(11));
    let tok = sign_in(&app, "admin@missed-desk.example").await;
    let tk = set_status(&app, &tok, &id, "in_progress").await;
    assert_eq!(tk["sla"]["response_state"], "breached");
    // The change stored the state; the check that follows records the
    // event and mails it, once however often it runs.
    sla_check(&app, &t).await;
    sla_check(&app, &t).await;
    assert_eq!(
        events(&app, &tok, &id).await,
        pairs(&[("response", "breached")])
    );
    assert_eq!(
        app.count("SELECT count(*) FROM mail_messages WHERE template = 'ticket_sla'")
            .await,
        1,
        "the breach is mailed"
    );
}

#[tokio::test]
async fn sla_policies_and_holidays_are_validated_and_only_admins_change_them() {
    let app = TestApp::new().await;
    let t = app.tenant("Policy Desk").await;
    let (_, _, tech) = staff(&app, &t, "tech").await;
    let (_, _, accountant) = staff(&app, &t, "accountant").await;
    let put = async |path: &str, token: &str, body: Value| {
        app.call(Method::PUT, path, Some(token), Some(body)).await
    };
    let base = || office_policy();
    let with = |k: &str, v: Value| {
        let mut b = base();
        b[k] = v;
        b
    };
    for (body, field) in [
        (with("resolution_minutes", json!(30)), "resolution_minutes"),
        (
            with("first_response_minutes", json!(0)),
            "first_response_minutes",
        ),
        (with("resolution_minutes", json!(-5)), "resolution_minutes"),
        (with("warn_percent", json!(0)), "warn_percent"),
        (with("warn_percent", json!(100)), "warn_percent"),
        (
            with("business_hours", json!({"mon": ["9:00", "17:00"]})),
            "business_hours",
        ),
        (
            with("business_hours", json!({"mon": ["17:00", "09:00"]})),
            "business_hours",
        ),
        (
            with("business_hours", json!({"funday": ["09:00", "17:00"]})),
            "business_hours",
        ),
        (
            with("business_hours", json!({"mon": "09:00-17:00"})),
            "business_hours",
        ),
        (
            with("business_hours", json!({"mon": null})),
            "business_hours",
        ),
        (
            with("business_hours", json!(["09:00", "17:00"])),
            "business_hours",
        ),
        (
            with("pause_statuses", json!(["resolved"])),
            "pause_statuses",
        ),
        (
            with("pause_statuses", json!(["waiting_on_client", "closed"])),
            "pause_statuses",
        ),
    ] {
        let r = put("/api/v1/sla/policies/high", &t.admin, body.clone()).await;
        assert_eq!(
            fields(&r).last().map(String::as_str),
            Some(field),
            "{body}: {}",
            r.body
        );
        assert!(fields(&r).contains(&field.to_owned()));
    }
    let r = put(
        "/api/v1/sla/policies/high",
        &t.admin,
        with("pause_statuses", json!(["sleeping"])),
    )
    .await;
    assert_eq!(r.error_code(), "invalid_body");
    let r = put("/api/v1/sla/policies/urgent", &t.admin, base()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.error_code(), "invalid_path");
    assert_eq!(app.count("SELECT count(*) FROM sla_policies").await, 0);

    // Techs read policies but do not change them; accountants do neither.
    let r = put("/api/v1/sla/policies/high", &tech, base()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.get("/api/v1/sla/policies", &accountant).await.status,
        StatusCode::FORBIDDEN
    );
    let r = put("/api/v1/sla/policies/high", &t.admin, base()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Stored in full: closed days are null; 24:00 stays 24:00.
    assert_eq!(r.body["business_hours"]["sat"], Value::Null);
    assert_eq!(r.body["business_hours"]["mon"], json!(["09:00", "17:00"]));
    assert_eq!(r.body["use_holidays"], true);
    let r = put(
        "/api/v1/sla/policies/high",
        &t.admin,
        with("business_hours", json!({"sat": ["10:00", "24:00"]})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["business_hours"]["sat"], json!(["10:00", "24:00"]));
    assert_eq!(r.body["business_hours"]["mon"], Value::Null);
    put(
        "/api/v1/sla/policies/low",
        &t.admin,
        json!({"first_response_minutes": 480, "resolution_minutes": 2400}),
    )
    .await;
    let r = app.get("/api/v1/sla/policies", &tech).await;
    assert_eq!(r.status, StatusCode::OK);
    let prios: Vec<&str> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["priority"].as_str().unwrap())
        .collect();
    assert_eq!(
        prios,
        ["high", "low"],
        "one per priority, most urgent first"
    );
    assert_eq!(
        app.delete("/api/v1/sla/policies/low", &tech).await.status,
        StatusCode::FORBIDDEN
    );

    // Holidays.
    for bad in ["2026-13-01", "2026-02-30", "tomorrow", "2026-1-1x"] {
        let r = put(
            &format!("/api/v1/sla/holidays/{bad}"),
            &t.admin,
            json!({"name": "x"}),
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.body);
        assert_eq!(r.error_code(), "invalid_path");
    }
    let r = put(
        "/api/v1/sla/holidays/2026-12-25",
        &t.admin,
        json!({"name": "  "}),
    )
    .await;
    assert_eq!(fields(&r), ["name"]);
    let r = put(
        "/api/v1/sla/holidays/2026-12-25",
        &tech,
        json!({"name": "Christmas"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = put(
        "/api/v1/sla/holidays/2026-12-25",
        &t.admin,
        json!({"name": "Xmas"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = put(
        "/api/v1/sla/holidays/2026-12-25",
        &t.admin,
        json!({"name": "Christmas Day"}),
    )
    .await;
    assert_eq!(r.body["name"], "Christmas Day");
    put(
        "/api/v1/sla/holidays/2026-01-01",
        &t.admin,
        json!({"name": "New Year"}),
    )
    .await;
    let r = app.get("/api/v1/sla/holidays", &tech).await;
    assert_eq!(
        r.body,
        json!([{"day": "2026-01-01", "name": "New Year"}, {"day": "2026-12-25", "name": "Christmas Day"}])
    );
    assert_eq!(
        app.get("/api/v1/sla/holidays", &accountant).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.delete("/api/v1/sla/holidays/2026-01-01", &tech)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let r = app
        .delete("/api/v1/sla/holidays/2026-01-01", &t.admin)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = app
        .delete("/api/v1/sla/holidays/2026-01-01", &t.admin)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Another company has its own calendar.
    let other = app.tenant("Other Policy Desk").await;
    assert_eq!(
        app.get("/api/v1/sla/holidays", &other.admin).await.body,
        json!([])
    );
    assert_eq!(
        app.get("/api/v1/sla/policies", &other.admin).await.body,
        json!([])
    );
}

#[tokio::test]
async fn clients_register_their_mail_domains_once_per_company() {
    let app = TestApp::new().await;
    let t = app.tenant("Domain Desk").await;
    let r = app
        .post(
            "/api/v1/clients",
            &t.admin,
            json!({"name": "Acme", "email_domains": ["Acme.COM", "@mail.acme.example", "acme.com"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(
        r.body["email_domains"],
        json!(["acme.com", "mail.acme.example"])
    );
    let acme = r.id();
    let got = app.get(&format!("/api/v1/clients/{acme}"), &t.admin).await;
    assert_eq!(
        got.body["email_domains"],
        json!(["acme.com", "mail.acme.example"])
    );

    let r = app
        .post(
            "/api/v1/clients",
            &t.admin,
            json!({"name": "Copycat", "email_domains": ["ACME.com"]}),
        )
        .await;
    assert_eq!(fields(&r), ["email_domains"]);
    assert_eq!(field_code(&r, "email_domains"), "taken");
    let globex = app.client(&t.admin, "Globex").await;
    let r = app
        .patch(
            &format!("/api/v1/clients/{globex}"),
            &t.admin,
            json!({"email_domains": ["globex.example", "mail.acme.example"]}),
        )
        .await;
    assert_eq!(field_code(&r, "email_domains"), "taken");
    let r = app
        .patch(
            &format!("/api/v1/clients/{globex}"),
            &t.admin,
            json!({"email_domains": ["globex.example"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // A client keeps its own domains when it changes.
    let r = app
        .patch(
            &format!("/api/v1/clients/{acme}"),
            &t.admin,
            json!({"name": "Acme Ltd", "email_domains": ["acme.com", "acme.org"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["email_domains"], json!(["acme.com", "acme.org"]));
    // mail.acme.example is free again.
    let r = app
        .patch(
            &format!("/api/v1/clients/{globex}"),
            &t.admin,
            json!({"email_domains": ["globex.example", "mail.acme.example"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    for bad in [
        json!(["not a domain"]),
        json!(["localhost"]),
        json!(["-acme.com"]),
        json!(["acme..com"]),
        json!(["ann@acme.net"]),
        json!([""]),
    ] {
        let r = app
            .post(
                "/api/v1/clients",
                &t.admin,
                json!({"name": "Bad", "email_domains": bad}),
            )
            .await;
        assert_eq!(fields(&r), ["email_domains"], "{bad}");
        assert_eq!(field_code(&r, "email_domains"), "invalid", "{bad}");
    }
    let many: Vec<String> = (0..21).map(|i| format!("d{i}.example")).collect();
    let r = app
        .post(
            "/api/v1/clients",
            &t.admin,
            json!({"name": "Many", "email_domains": many}),
        )
        .await;
    assert_eq!(field_code(&r, "email_domains"), "too_many");

    // Another company may register the same domain.
    let other = app.tenant("Other Domain Desk").await;
    let r = app
        .post(
            "/api/v1/clients",
            &other.admin,
            json!({"name": "Acme elsewhere", "email_domains": ["acme.com"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
}

#[tokio::test]
async fn bulk_status_reports_only_the_tickets_that_changed() {
    let app = TestApp::new().await;
    let t = app.tenant("Bulk Report Desk").await;
    let a = open(&app, &t.admin, json!({"subject": "A"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = open(&app, &t.admin, json!({"subject": "B"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    set_status(&app, &t.admin, &a, "resolved").await;
    let r = app
        .post(
            "/api/v1/tickets/bulk-status",
            &t.admin,
            json!({"ids": [a, b], "status": "resolved"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let changed: Vec<&str> = r.body["changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        changed,
        [b.as_str()],
        "BulkResult.changed: the tickets that changed"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE action = 'ticket.status_changed'")
            .await,
        2,
        "one for A's own change, one for B's"
    );
}

/// Posts a message with an `X-Request-Id`, as a client retrying would.
async fn post_with_request_id(
    app: &TestApp,
    token: &str,
    path: &str,
    request_id: &str,
    body: Value,
) -> Response {
    let req = axum::http::Request::builder()
        .method(Method::POST)
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .header("x-request-id", request_id)
        .body(axum::body::Body::from(serde_json::to_vec(&body).unwrap()))
        .unwrap();
    app.raw(req).await
}

/// A ticket of Acme's contact Ann: (tenant, ticket id).
async fn ann_ticket(app: &TestApp, name: &str) -> (Tenant, String) {
    let t = app.tenant(name).await;
    let acme = app.client(&t.admin, "Acme").await;
    let ann = contact(app, &t.admin, &acme, "Ann", Some("ann@acme.example")).await;
    let id = open(
        app,
        &t.admin,
        json!({"subject": "Help", "client_id": acme, "contact_id": ann}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (t, id)
}

#[tokio::test]
async fn a_reply_retried_under_its_request_id_is_stored_and_mailed_once() {
    let app = TestApp::new().await;
    let (t, id) = ann_ticket(&app, "Retry Desk").await;
    let path = format!("/api/v1/tickets/{id}/messages");
    let body = json!({"kind": "reply", "body": "On it."});
    let first = post_with_request_id(&app, &t.admin, &path, "req-1", body.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let again = post_with_request_id(&app, &t.admin, &path, "req-1", body).await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
    assert_eq!(again.body["message"]["id"], first.body["message"]["id"]);
    assert_eq!(again.body["mail_id"], first.body["mail_id"]);
    assert_eq!(again.body["job_id"], first.body["job_id"]);
    assert_eq!(
        app.count("SELECT count(*) FROM ticket_messages WHERE kind = 'reply'")
            .await,
        1
    );
    assert_eq!(app.count("SELECT count(*) FROM mail_messages").await, 1);
    assert_eq!(
        app.count("SELECT count(*) FROM jobs WHERE kind = 'mail.deliver'")
            .await,
        1
    );
}

#[tokio::test]
async fn a_retried_reply_keeps_its_attachments_once() {
    let app = TestApp::new().await;
    let (t, id) = ann_ticket(&app, "Retry Files Desk").await;
    let path = format!("/api/v1/tickets/{id}/messages");
    let body = json!({"kind": "reply", "body": "The invoice you asked for.", "attachments": [
        {"filename": "copy.txt", "content_base64": "Y29weQ=="}]});
    post_with_request_id(&app, &t.admin, &path, "req-files", body.clone()).await;
    let again = post_with_request_id(&app, &t.admin, &path, "req-files", body).await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
    assert_eq!(
        again.body["message"]["attachments"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "{}",
        again.body
    );
    assert_eq!(
        app.count("SELECT count(*) FROM ticket_attachments").await,
        1
    );
}

#[tokio::test]
async fn a_different_reply_under_a_reused_request_id_is_not_lost() {
    let app = TestApp::new().await;
    let (t, id) = ann_ticket(&app, "Reuse Desk").await;
    let path = format!("/api/v1/tickets/{id}/messages");
    let first = post_with_request_id(
        &app,
        &t.admin,
        &path,
        "fixed-id",
        json!({"kind": "reply", "body": "First answer."}),
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let second = post_with_request_id(
        &app,
        &t.admin,
        &path,
        "fixed-id",
        json!({"kind": "reply", "body": "Second, different answer."}),
    )
    .await;
    // Either stored and mailed as a reply of its own, or refused: never a
    // 201 that silently drops the text.
    if second.status == StatusCode::CREATED {
        assert_eq!(
            second.body["message"]["body"], "Second, different answer.",
            "{}",
            second.body
        );
        assert_eq!(app.count("SELECT count(*) FROM mail_messages").await, 2);
    } else {
        assert!(second.status.is_client_error(), "{}", second.body);
    }
}

#[tokio::test]
async fn a_replys_attachments_reach_the_contact() {
    let app = TestApp::new().await;
    let (t, id) = ann_ticket(&app, "Attach Mail Desk").await;
    let sink = SmtpSink::start("accept");
    use_sink(&app, &t, &sink).await;
    let bytes = b"step 1: restart\nstep 2: pray\n";
    let r = app
        .post(
            &format!("/api/v1/tickets/{id}/messages"),
            &t.admin,
            json!({"kind": "reply", "body": "The instructions are attached.", "attachments": [
                {"filename": "howto.txt", "content_type": "text/plain",
                 "content_base64": base64::engine::general_purpose::STANDARD.encode(bytes)}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let mail: MailId = r.body["mail_id"].as_str().unwrap().parse().unwrap();
    app.run_job(Deliver { tenant: t.id, mail }).await.unwrap();
    let got = sink.wait_for(1).await;
    let atts = got[0]["attachments"].as_array().unwrap();
    assert_eq!(atts.len(), 1, "{}", got[0]);
    assert_eq!(atts[0]["filename"], "howto.txt");
    assert_eq!(
        std::fs::read(atts[0]["path"].as_str().unwrap()).unwrap(),
        bytes
    );
}

#[tokio::test]
async fn business_hours_keep_to_the_companys_local_time_across_daylight_saving_changes() {
    let app = TestApp::new().await;
    // Friday 6 March 2026, 16:50 in New York (EST, UTC-5). The clocks go
    // forward on Sunday 8 March.
    app.clock.set(utc("2026-03-06T21:50:00Z"));
    let t = app.tenant("Zone Desk").await;
    let email = "admin@zone-desk.example";
    let r = app
        .patch(
            "/api/v1/company",
            &t.admin,
            json!({"time_zone": "America/New_York"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["time_zone"], "America/New_York");
    let r = app
        .call(
            Method::PUT,
            "/api/v1/sla/policies/high",
            Some(&t.admin),
            Some(office_policy()),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let tk = open(
        &app,
        &t.admin,
        json!({"subject": "Spring", "priority": "high"}),
    )
    .await;
    // 10 minutes on Friday, 50 on Monday 9 March from 09:00 EDT (UTC-4):
    // 09:50 EDT is 13:50 UTC, not 14:50 as it would be in winter time.
    assert_eq!(ts(&tk["sla"]["response_due"]), utc("2026-03-09T13:50:00Z"));
    assert_eq!(
        ts(&tk["sla"]["resolution_due"]),
        utc("2026-03-09T16:50:00Z")
    );

    // Friday 23 October 2026, 16:50 in Berlin (CEST, UTC+2); the clocks go
    // back on Sunday 25 October.
    app.clock.set(utc("2026-10-23T14:50:00Z"));
    let tok = sign_in(&app, email).await;
    let r = app
        .patch(
            "/api/v1/company",
            &tok,
            json!({"time_zone": "Europe/Berlin"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let tk = open(&app, &tok, json!({"subject": "Autumn", "priority": "high"})).await;
    // Monday 26 October 09:50 CET (UTC+1) is 08:50 UTC.
    assert_eq!(ts(&tk["sla"]["response_due"]), utc("2026-10-26T08:50:00Z"));
    assert_eq!(
        ts(&tk["sla"]["resolution_due"]),
        utc("2026-10-26T11:50:00Z")
    );
    // The zone change applies to the spring ticket too at the next check:
    // created Friday 6 March 22:50 CET, after hours; 09:00-10:00 CET on
    // Monday 9 March is 08:00-09:00 UTC.
    sla_check(&app, &t).await;
    let first = ids(&app.get("/api/v1/tickets?q=spring", &tok).await);
    let spring = ticket(&app, &tok, &first[0]).await;
    assert_eq!(
        ts(&spring["sla"]["response_due"]),
        utc("2026-03-09T09:00:00Z")
    );
}

/// The queue counts at most 10,000 matching tickets (a full-text search
/// 1,000): past that, `total` is the cap with `total_exact` false
/// ("10,000+"), and below it the count is exact. Counting a million
/// tickets on every page cost ~100 ms.
#[tokio::test]
async fn the_ticket_count_stops_at_ten_thousand() {
    let app = TestApp::new().await;
    let t = app.tenant("Counted").await;
    let one = open(&app, &t.admin, json!({"subject": "The real one"})).await;
    let r = app.get("/api/v1/tickets", &t.admin).await;
    assert_eq!(
        (r.body["total"].clone(), r.body["total_exact"].clone()),
        (json!(1), json!(true))
    );
    sqlx::query(
        "INSERT INTO tickets (id, company_id, number, token_code, subject, status, priority, source, \
                              created_at, updated_at) \
         SELECT gen_random_uuid(), $1, 1000 + i, 'ABCDEF', 'Bulk ' || i, \
                CASE WHEN i <= 10000 THEN 'open' ELSE 'closed' END, 'low', 'api', $2, $2 \
         FROM generate_series(1, 10005) i",
    )
    .bind(t.id.as_uuid())
    .bind(app.clock_now())
    .execute(&app.owner)
    .await
    .unwrap();
    let r = app.get("/api/v1/tickets?limit=1", &t.admin).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        (r.body["total"].clone(), r.body["total_exact"].clone()),
        (json!(10000), json!(false))
    );
    // 10,000 open ones plus the real (new) one is still past the cap ...
    let r = app.get("/api/v1/tickets?status=open,new", &t.admin).await;
    assert_eq!(
        (r.body["total"].clone(), r.body["total_exact"].clone()),
        (json!(10000), json!(false))
    );
    // ... exactly 10,000 is not.
    let r = app.get("/api/v1/tickets?status=open", &t.admin).await;
    assert_eq!(
        (r.body["total"].clone(), r.body["total_exact"].clone()),
        (json!(10000), json!(true))
    );
    let r = app.get("/api/v1/tickets?status=closed", &t.admin).await;
    assert_eq!(
        (r.body["total"].clone(), r.body["total_exact"].clone()),
        (json!(5), json!(true))
    );
    let r = app.get("/api/v1/tickets?status=new", &t.admin).await;
    assert_eq!(ids(&r), vec![one["id"].as_str().unwrap().to_owned()]);
    // A full-text search counts to 1,000: every bulk ticket matches "bulk".
    let r = app.get("/api/v1/tickets?q=bulk&limit=1", &t.admin).await;
    assert_eq!(
        (r.body["total"].clone(), r.body["total_exact"].clone()),
        (json!(1000), json!(false))
    );
    let r = app.get("/api/v1/tickets?q=real", &t.admin).await;
    assert_eq!(
        (r.body["total"].clone(), r.body["total_exact"].clone()),
        (json!(1), json!(true))
    );
}

/// Saved views: a user's named filters of the queue, checked as the list
/// checks them, theirs alone, distinct names, at most 50.
#[tokio::test]
async fn saved_views_keep_a_users_filters() {
    let app = TestApp::new().await;
    let t = app.tenant("Views").await;
    let other = app.tenant("Views Other").await;
    let (_, _, tech) = staff(&app, &t, "tech").await;
    let r = app.get("/api/v1/tickets/views", &t.admin).await;
    assert_eq!(r.body, json!([]));
    let r = app
        .post(
            "/api/v1/tickets/views",
            &t.admin,
            json!({"name": "  Urgent open ", "query": "?status=new,open&priority=high&q=vpn"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["name"], "Urgent open");
    assert_eq!(r.body["query"], "status=new,open&priority=high&q=vpn");
    let urgent = r.id();
    let r = app
        .post(
            "/api/v1/tickets/views",
            &t.admin,
            json!({"name": "Everything"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let names: Vec<Value> = app
        .get("/api/v1/tickets/views", &t.admin)
        .await
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("Everything"), json!("Urgent open")]);
    // The same name again is a conflict; bad filters are named.
    let r = app
        .post(
            "/api/v1/tickets/views",
            &t.admin,
            json!({"name": "Urgent open", "query": ""}),
        )
        .await;
    assert_eq!(
        (r.status, r.error_code()),
        (StatusCode::CONFLICT, "view_exists"),
        "{}",
        r.body
    );
    for (query, why) in [
        ("status=bogus", "unknown status"),
        ("priority=urgent", "not a ticket list"),
        ("limit=5", "leave out limit"),
        ("colour=red", "not a ticket list"),
        ("client_id=nope", "not a ticket list"),
    ] {
        let r = app
            .post(
                "/api/v1/tickets/views",
                &t.admin,
                json!({"name": "x", "query": query}),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{query}: {}",
            r.body
        );
        assert_eq!(field_code(&r, "query"), "invalid", "{query}");
        assert!(r.body.to_string().contains(why), "{query}: {}", r.body);
    }
    let r = app
        .post(
            "/api/v1/tickets/views",
            &t.admin,
            json!({"name": " ", "query": "q=".to_owned() + &"x".repeat(2000)}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(fields(&r), vec!["name", "query"]);
    // Another user's and another tenant's views are out of sight and reach.
    assert_eq!(
        app.get("/api/v1/tickets/views", &tech).await.body,
        json!([])
    );
    assert_eq!(
        app.get("/api/v1/tickets/views", &other.admin).await.body,
        json!([])
    );
    for token in [&tech, &other.admin] {
        let r = app
            .delete(&format!("/api/v1/tickets/views/{urgent}"), token)
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    }
    let r = app
        .delete(&format!("/api/v1/tickets/views/{urgent}"), &t.admin)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = app
        .delete(&format!("/api/v1/tickets/views/{urgent}"), &t.admin)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // At most 50 each.
    for i in 0..49 {
        let r = app
            .post(
                "/api/v1/tickets/views",
                &tech,
                json!({"name": format!("View {i}")}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let r = app
        .post("/api/v1/tickets/views", &tech, json!({"name": "One more"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = app
        .post("/api/v1/tickets/views", &tech, json!({"name": "Too many"}))
        .await;
    assert_eq!(
        (r.status, r.error_code()),
        (StatusCode::CONFLICT, "too_many_views"),
        "{}",
        r.body
    );
}
