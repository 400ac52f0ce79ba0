//! Canned replies (CRUD, scopes, placeholders checked when saved and filled
//! when rendered) and ticket watchers (CRUD, public replies and status
//! changes mailed to them through the SMTP sink, Cc of incoming mail).

use axum::http::StatusCode;
use nestogy_domain::MailId;
use nestogy_domain::kernel::roles::Role;
use nestogy_jobs::mail::Deliver;
use serde_json::{Value, json};

use crate::common::{Response, SmtpSink, Tenant, TestApp, use_sink};
use crate::inbound::{Desk, message};

fn fields(r: &Response) -> Vec<(String, String, String)> {
    r.body["error"]["details"]["fields"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| {
                    (
                        f["field"].as_str().unwrap_or_default().to_owned(),
                        f["code"].as_str().unwrap_or_default().to_owned(),
                        f["message"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn titles(r: &Response) -> Vec<String> {
    r.body["data"]
        .as_array()
        .expect("a page")
        .iter()
        .map(|c| c["title"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn canned_crud_and_scopes() {
    let app = TestApp::new().await;
    let t = app.tenant("MSP Canned").await;
    let other = app.tenant("Other MSP").await;
    let tech = app.user(&t, Role::Tech).await;
    let tech2 = app.user(&t, Role::Tech).await;

    let shared = app
        .post(
            "/api/v1/canned-replies",
            &t.admin,
            json!({"title": "Password reset", "body": "Hi {{contact.first_name}}, done.", "scope": "company"}),
        )
        .await;
    assert_eq!(shared.status, StatusCode::CREATED, "{}", shared.body);
    assert_eq!(shared.body["scope"], json!("company"));
    assert!(shared.body["owner_id"].is_null());
    let shared_id = shared.id();

    // Techs read company replies but do not write them.
    let r = app
        .post(
            "/api/v1/canned-replies",
            &tech,
            json!({"title": "Mine for all", "body": "x", "scope": "company"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = app
        .patch(
            &format!("/api/v1/canned-replies/{shared_id}"),
            &tech,
            json!({"title": "Changed"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = app
        .delete(&format!("/api/v1/canned-replies/{shared_id}"), &tech)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);

    // A personal reply by default.
    let mine = app
        .post(
            "/api/v1/canned-replies",
            &tech,
            json!({"title": "  Asking for a screenshot ", "body": "Could you send a screenshot?"}),
        )
        .await;
    assert_eq!(mine.status, StatusCode::CREATED, "{}", mine.body);
    assert_eq!(mine.body["scope"], json!("personal"));
    assert_eq!(mine.body["title"], json!("Asking for a screenshot"));
    assert!(mine.body["owner_id"].is_string());
    let mine_id = mine.id();

    // The owner sees both, by title; another tech sees only the company's.
    let r = app.get("/api/v1/canned-replies", &tech).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(titles(&r), ["Asking for a screenshot", "Password reset"]);
    assert_eq!(r.body["total"], json!(2));
    let r = app.get("/api/v1/canned-replies", &tech2).await;
    assert_eq!(titles(&r), ["Password reset"]);
    let r = app.get("/api/v1/canned-replies?q=SCREEN", &tech).await;
    assert_eq!(titles(&r), ["Asking for a screenshot"]);
    let r = app.get("/api/v1/canned-replies?q=screen", &tech2).await;
    assert!(titles(&r).is_empty());
    // Paged.
    let r = app.get("/api/v1/canned-replies?limit=1", &tech).await;
    assert_eq!(titles(&r), ["Asking for a screenshot"]);
    let cursor = r.body["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let r = app
        .get(
            &format!("/api/v1/canned-replies?limit=1&cursor={cursor}"),
            &tech,
        )
        .await;
    assert_eq!(titles(&r), ["Password reset"]);
    assert!(r.body["next_cursor"].is_null());

    // Another user's personal reply does not exist for them, nor for admins.
    for token in [&tech2, &t.admin] {
        let path = format!("/api/v1/canned-replies/{mine_id}");
        assert_eq!(app.get(&path, token).await.status, StatusCode::NOT_FOUND);
        let r = app.patch(&path, token, json!({"title": "Mine now"})).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
        assert_eq!(app.delete(&path, token).await.status, StatusCode::NOT_FOUND);
    }
    // Nor does another tenant's company reply.
    let r = app
        .get(&format!("/api/v1/canned-replies/{shared_id}"), &other.admin)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);

    // The owner edits and deletes theirs; the admin edits the company's.
    let r = app
        .patch(
            &format!("/api/v1/canned-replies/{mine_id}"),
            &tech,
            json!({"body": "A screenshot, {{agent.first_name}} here."}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.body["body"],
        json!("A screenshot, {{agent.first_name}} here.")
    );
    assert_eq!(r.body["title"], json!("Asking for a screenshot"));
    let r = app
        .patch(
            &format!("/api/v1/canned-replies/{shared_id}"),
            &t.admin,
            json!({"title": "Password reset done"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["title"], json!("Password reset done"));
    let r = app
        .get(&format!("/api/v1/canned-replies/{shared_id}"), &tech2)
        .await;
    assert_eq!(r.body["title"], json!("Password reset done"));
    let r = app
        .delete(&format!("/api/v1/canned-replies/{mine_id}"), &tech)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let r = app
        .get(&format!("/api/v1/canned-replies/{mine_id}"), &tech)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE action LIKE 'canned_reply.%'")
            .await,
        5,
        "two created, two changed, one deleted"
    );
}

#[tokio::test]
async fn canned_placeholders_are_checked_when_saved() {
    let app = TestApp::new().await;
    let t = app.tenant("MSP Placeholders").await;
    let post = |body: &str| {
        app.post(
            "/api/v1/canned-replies",
            &t.admin,
            json!({"title": "T", "body": body}),
        )
    };
    let r = post("Hi {{contact.first_name}}, {{contact.nickname}} and {{ ticket.colour }}").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let f = fields(&r);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(
        (f[0].0.as_str(), f[0].1.as_str()),
        ("body", "unknown_placeholder")
    );
    assert!(
        f[0].2.contains("{{contact.nickname}}") && f[0].2.contains("{{ticket.colour}}"),
        "{}",
        f[0].2
    );
    let named = f[0].2.split("; known").next().unwrap_or_default();
    assert!(!named.contains("contact.first_name"), "{}", f[0].2);

    let r = post("Hi {{contact.first_name}}, see {{ticket.number").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let f = fields(&r);
    assert_eq!(
        (f[0].0.as_str(), f[0].1.as_str()),
        ("body", "unclosed_placeholder")
    );

    let r = post("Hi\u{0}there").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(fields(&r).iter().any(|f| f.0 == "body"), "{}", r.body);

    let r = post("   ").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);

    // A patch is checked as a new reply is.
    let ok = post("Plain }} text {{company.name}}").await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);
    let r = app
        .patch(
            &format!("/api/v1/canned-replies/{}", ok.id()),
            &t.admin,
            json!({"body": "{{agent.email}}"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(fields(&r)[0].1, "unknown_placeholder");
    assert_eq!(
        app.count("SELECT count(*) FROM canned_replies").await,
        1,
        "nothing refused was stored"
    );
}

/// A client with a contact; returns (client, contact).
async fn client_with_contact(
    app: &TestApp,
    t: &Tenant,
    client: &str,
    contact: &str,
    email: &str,
) -> (String, String) {
    let c = app.client(&t.admin, client).await;
    let k = add_contact(app, t, &c, contact, email).await;
    (c, k)
}

async fn add_contact(app: &TestApp, t: &Tenant, client: &str, name: &str, email: &str) -> String {
    let r = app
        .post(
            &format!("/api/v1/clients/{client}/contacts"),
            &t.admin,
            json!({"name": name, "email": email}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.id()
}

async fn ticket(app: &TestApp, t: &Tenant, body: Value) -> Value {
    let r = app.post("/api/v1/tickets", &t.admin, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body
}

#[tokio::test]
async fn canned_render_fills_each_placeholder() {
    let app = TestApp::new().await;
    let t = app.tenant("MSP Render").await;
    let (client, contact) =
        client_with_contact(&app, &t, "Acme Corp", "Alice Smith", "alice@acme.example").await;
    let tk = ticket(
        &app,
        &t,
        json!({"subject": "Printer jammed", "client_id": client, "contact_id": contact}),
    )
    .await;
    let token = tk["token"].as_str().expect("token");
    let number = token.trim_matches(['[', ']']);
    let r = app
        .post(
            "/api/v1/canned-replies",
            &t.admin,
            json!({"title": "All", "scope": "company", "body":
                "{{contact.name}}|{{contact.first_name}}|{{ticket.number}}|{{ticket.subject}}|\
                 {{client.name}}|{{agent.name}}|{{ agent.first_name }}|{{company.name}}"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let reply = r.id();
    let r = app
        .post(
            &format!(
                "/api/v1/tickets/{}/canned-replies/{reply}/render",
                tk["id"].as_str().expect("id")
            ),
            &t.admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.body["body"],
        json!(format!(
            "Alice Smith|Alice|{number}|Printer jammed|Acme Corp|Admin|Admin|MSP Render"
        ))
    );
    // Nothing the ticket lacks (no client, no contact): empty strings.
    let bare = ticket(&app, &t, json!({"subject": "Loose end"})).await;
    let r = app
        .post(
            &format!(
                "/api/v1/tickets/{}/canned-replies/{reply}/render",
                bare["id"].as_str().expect("id")
            ),
            &t.admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let bare_number = bare["token"]
        .as_str()
        .expect("token")
        .trim_matches(['[', ']'])
        .to_owned();
    assert_eq!(
        r.body["body"],
        json!(format!("||{bare_number}|Loose end||Admin|Admin|MSP Render"))
    );
    // Another tenant renders neither its ticket nor this reply.
    let other = app.tenant("Other MSP").await;
    let theirs = ticket(&app, &other, json!({"subject": "Theirs"})).await;
    let r = app
        .post(
            &format!(
                "/api/v1/tickets/{}/canned-replies/{reply}/render",
                theirs["id"].as_str().expect("id")
            ),
            &other.admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let r = app
        .post(
            &format!(
                "/api/v1/tickets/{}/canned-replies/{reply}/render",
                theirs["id"].as_str().expect("id")
            ),
            &t.admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
}

#[tokio::test]
async fn watchers_crud_and_foreign_ids() {
    let app = TestApp::new().await;
    let t = app.tenant("MSP Watch").await;
    let other = app.tenant("Other MSP").await;
    let (client, contact) =
        client_with_contact(&app, &t, "Acme Corp", "Alice", "alice@acme.example").await;
    let bob = add_contact(&app, &t, &client, "Bob", "bob@acme.example").await;
    let (_, stranger) = client_with_contact(&app, &t, "Beta Ltd", "Sam", "sam@beta.example").await;
    let (_, foreign_contact) =
        client_with_contact(&app, &other, "Foreign", "Fay", "fay@foreign.example").await;
    let tk = ticket(
        &app,
        &t,
        json!({"subject": "VPN down", "client_id": client, "contact_id": contact}),
    )
    .await;
    let id = tk["id"].as_str().expect("id").to_owned();
    let path = format!("/api/v1/tickets/{id}/watchers");

    let r = app
        .post(&path, &t.admin, json!({"user_id": t.admin_id}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["name"], json!("Admin"));
    let staff = r.id();
    let r = app
        .post(&path, &t.admin, json!({"user_id": t.admin_id}))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    let r = app.post(&path, &t.admin, json!({"contact_id": bob})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["email"], json!("bob@acme.example"));

    for (body, field, code) in [
        (
            json!({"contact_id": stranger}),
            "contact_id",
            "wrong_client",
        ),
        (
            json!({"contact_id": foreign_contact}),
            "contact_id",
            "not_found",
        ),
        (json!({"user_id": other.admin_id}), "user_id", "not_found"),
        (
            json!({"user_id": t.admin_id, "contact_id": bob}),
            "user_id",
            "one_of",
        ),
        (json!({}), "user_id", "one_of"),
    ] {
        let r = app.post(&path, &t.admin, body.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            r.body
        );
        let f = fields(&r);
        assert_eq!((f[0].0.as_str(), f[0].1.as_str()), (field, code), "{body}");
    }
    // A ticket without a client has no contacts to watch it.
    let bare = ticket(&app, &t, json!({"subject": "Loose"})).await;
    let r = app
        .post(
            &format!(
                "/api/v1/tickets/{}/watchers",
                bare["id"].as_str().expect("id")
            ),
            &t.admin,
            json!({"contact_id": bob}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(fields(&r)[0].1, "requires_client");

    // Another tenant sees no such ticket.
    assert_eq!(
        app.get(&path, &other.admin).await.status,
        StatusCode::NOT_FOUND
    );
    let r = app
        .post(&path, &other.admin, json!({"user_id": other.admin_id}))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let r = app.delete(&format!("{path}/{staff}"), &other.admin).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    // A watcher of one ticket is not one of another's.
    let r = app
        .delete(
            &format!(
                "/api/v1/tickets/{}/watchers/{staff}",
                bare["id"].as_str().expect("id")
            ),
            &t.admin,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);

    let r = app.get(&path, &t.admin).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body.as_array().map(Vec::len), Some(2), "{}", r.body);
    let r = app.delete(&format!("{path}/{staff}"), &t.admin).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let r = app.delete(&format!("{path}/{staff}"), &t.admin).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let r = app.get(&path, &t.admin).await;
    let left: Vec<&Value> = r.body.as_array().expect("list").iter().collect();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["contact_id"], json!(bob));
}

/// A tenant whose mail goes to an SMTP sink, with a ticket of Alice's
/// (Acme) that Bob (Acme) and the admin watch. Returns the tenant, the
/// ticket and the sink.
async fn watched(app: &TestApp) -> (Tenant, Value, SmtpSink) {
    let t = app.tenant("MSP Watched").await;
    let sink = SmtpSink::start("accept");
    use_sink(app, &t, &sink).await;
    let (client, alice) =
        client_with_contact(app, &t, "Acme Corp", "Alice", "alice@acme.example").await;
    let bob = add_contact(app, &t, &client, "Bob", "bob@acme.example").await;
    let tk = ticket(
        app,
        &t,
        json!({"subject": "Printer jammed", "client_id": client, "contact_id": alice}),
    )
    .await;
    let path = format!(
        "/api/v1/tickets/{}/watchers",
        tk["id"].as_str().expect("id")
    );
    for body in [json!({"contact_id": bob}), json!({"user_id": t.admin_id})] {
        let r = app.post(&path, &t.admin, body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    (t, tk, sink)
}

/// The ticket's mail in the registry: (id, template, recipients).
async fn mails_of(app: &TestApp, ticket: &str) -> Vec<(MailId, String, Vec<String>)> {
    sqlx::query_as(
        "SELECT id, template, recipients FROM mail_messages WHERE subject_id = $1::uuid \
         ORDER BY created_at, id",
    )
    .bind(ticket)
    .fetch_all(&app.owner)
    .await
    .expect("mail")
}

async fn deliver(app: &TestApp, t: &Tenant, mail: MailId) -> Value {
    app.run_job(Deliver { tenant: t.id, mail })
        .await
        .expect("delivered")
}

#[tokio::test]
async fn watchers_receive_public_replies_but_never_notes() {
    let app = TestApp::new().await;
    let (t, tk, sink) = watched(&app).await;
    let id = tk["id"].as_str().expect("id");
    let r = app
        .post(
            &format!("/api/v1/tickets/{id}/messages"),
            &t.admin,
            json!({"kind": "note", "body": "Internal: the printer is ours."}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert!(mails_of(&app, id).await.is_empty(), "a note mails no one");
    let r = app
        .post(
            &format!("/api/v1/tickets/{id}/messages"),
            &t.admin,
            json!({"kind": "reply", "body": "Please open tray 2."}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let mails = mails_of(&app, id).await;
    let mut to: Vec<String> = mails.iter().flat_map(|m| m.2.clone()).collect();
    to.sort();
    assert_eq!(
        to,
        [
            "admin@msp-watched.example",
            "alice@acme.example",
            "bob@acme.example"
        ],
        "one mail each"
    );
    assert!(
        mails
            .iter()
            .all(|m| m.1 == "ticket_reply" && m.2.len() == 1)
    );
    for m in &mails {
        deliver(&app, &t, m.0).await;
    }
    let sent = sink.messages();
    assert_eq!(sent.len(), 3);
    let bob = sent
        .iter()
        .find(|m| m["rcpt_tos"] == json!(["bob@acme.example"]))
        .expect("bob's copy");
    assert!(
        bob["text"]
            .as_str()
            .is_some_and(|b| b.contains("Please open tray 2."))
    );
    assert!(
        bob["subject"]
            .as_str()
            .is_some_and(|s| s.contains("Printer jammed"))
    );
    assert!(
        sent.iter()
            .all(|m| !m["text"].as_str().unwrap_or_default().contains("Internal")),
        "the note reached no one"
    );
}

#[tokio::test]
async fn watchers_hear_of_a_status_change_once() {
    let app = TestApp::new().await;
    let (t, tk, sink) = watched(&app).await;
    let id = tk["id"].as_str().expect("id");
    let token = tk["token"].as_str().expect("token");
    let status_path = format!("/api/v1/tickets/{id}/status");
    let status = |s: &'static str| app.post(&status_path, &t.admin, json!({"status": s}));
    let r = status("resolved").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // The same status again is no change.
    let r = status("resolved").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let mails = mails_of(&app, id).await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    let (mail, template, to) = &mails[0];
    assert_eq!(template, "ticket_status");
    // Contact watchers only: not the staff watcher, not the ticket's contact.
    assert_eq!(to, &["bob@acme.example".to_owned()]);
    let first = deliver(&app, &t, *mail).await;
    assert_eq!(first["status"], json!("sent"), "{first}");
    // The delivery job run again sends nothing more.
    let again = deliver(&app, &t, *mail).await;
    assert_eq!(again["already"], json!(true), "{again}");
    let sent = sink.messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0]["subject"],
        json!(format!("Ticket {token} is now resolved: Printer jammed"))
    );
    assert!(
        sent[0]["text"]
            .as_str()
            .is_some_and(|b| b.contains("is now resolved"))
    );
    // Another change is another mail; bulk changes tell watchers too.
    let r = app
        .post(
            "/api/v1/tickets/bulk-status",
            &t.admin,
            json!({"ids": [id], "status": "closed"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let mails = mails_of(&app, id).await;
    assert_eq!(mails.len(), 2, "{mails:?}");
    assert_eq!(mails[1].2, ["bob@acme.example".to_owned()]);
}

#[tokio::test]
async fn watchers_from_the_cc_of_incoming_mail() {
    let d = Desk::new().await;
    let app = &d.app;
    let r = app
        .post(
            "/api/v1/clients",
            &d.t.admin,
            json!({"name": "Acme Corp", "email_domains": ["acme.example"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let acme = r.id();
    add_contact(app, &d.t, &acme, "Alice", "alice@acme.example").await;
    let carol = add_contact(app, &d.t, &acme, "Carol", "carol@acme.example").await;
    client_with_contact(app, &d.t, "Beta Ltd", "Dave", "dave@beta.example").await;

    d.append(&message(
        "alice@acme.example",
        "Laptop slow",
        "My laptop is slow.",
        "Cc: Carol <Carol@Acme.example>, dave@beta.example, support@msp-a.test, \
         alice@acme.example, nobody@acme.example\r\n",
    ))
    .await;
    d.poll().await;
    let ticket: String = sqlx::query_scalar("SELECT id::text FROM tickets")
        .fetch_one(&app.owner)
        .await
        .expect("ticket");
    let r = app
        .get(&format!("/api/v1/tickets/{ticket}"), &d.t.admin)
        .await;
    let token = r.body["token"].as_str().expect("token").to_owned();
    let r = app
        .get(&format!("/api/v1/tickets/{ticket}/watchers"), &d.t.admin)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let w = r.body.as_array().expect("watchers");
    assert_eq!(w.len(), 1, "only Carol: {}", r.body);
    assert_eq!(w[0]["contact_id"], json!(carol));
    assert!(w[0]["added_by"].is_null());

    // Carol named again on the thread is not a second watcher.
    d.append(&message(
        "alice@acme.example",
        &format!("Re: {token} Laptop slow"),
        "Still slow.",
        "Cc: carol@acme.example\r\n",
    ))
    .await;
    d.poll().await;
    assert_eq!(
        d.count("SELECT count(*) FROM ticket_messages WHERE kind = 'incoming'")
            .await,
        2
    );
    assert_eq!(d.count("SELECT count(*) FROM ticket_watchers").await, 1);
}
