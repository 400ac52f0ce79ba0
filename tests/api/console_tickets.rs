//! The console's ticket pages (`/console/tickets`, crate nestogy-web): the
//! queue with the API's filters, its pages and bulk actions, one ticket
//! with its thread, attachments, history and forms, and a new ticket. Each
//! action's effect is read back through the API.

use axum::http::StatusCode;
use base64::Engine;
use serde_json::{Value, json};

use crate::common::{PASSWORD, TestApp};
use crate::console::{Page, admin_email, get, post, post_file, sign_in, user};
use crate::webdriver::Browser;

async fn open_ticket(app: &TestApp, token: &str, body: Value) -> String {
    let r = app.post("/api/v1/tickets", token, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.id()
}

async fn ticket(app: &TestApp, token: &str, id: &str) -> Value {
    let r = app.get(&format!("/api/v1/tickets/{id}"), token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body
}

/// The `href` of the link with `id`, unescaped.
fn href_of(page: &Page, id: &str) -> String {
    let key = format!("id=\"{id}\" href=\"");
    let at = page
        .html
        .find(&key)
        .unwrap_or_else(|| panic!("no link {id} in {}", page.html));
    let rest = &page.html[at + key.len()..];
    rest[..rest.find('"').unwrap()].replace("&amp;", "&")
}

/// The queue: the tenant's tickets only, 50 a page with a next-page link
/// that keeps the filters, the API's filters (priority, status, text,
/// unassigned, client), bulk assign and bulk status with their result, a
/// bulk action the API refuses re-rendered with its message, and CSRF.
#[tokio::test]
async fn the_queue_filters_pages_and_acts_in_bulk() {
    let app = TestApp::new().await;
    let t = app.tenant("Queue Console").await;
    let other = app.tenant("Queue Other").await;
    let client = app.client(&t.admin, "Acme Widgets").await;
    let theirs_client = app.client(&other.admin, "Their Client").await;
    open_ticket(
        &app,
        &other.admin,
        json!({"subject": "Their secret outage", "client_id": theirs_client}),
    )
    .await;
    for i in 0..50 {
        open_ticket(
            &app,
            &t.admin,
            json!({"subject": format!("Routine request {i}"), "priority": "low"}),
        )
        .await;
    }
    let fire = open_ticket(
        &app,
        &t.admin,
        json!({"subject": "Printer on fire", "priority": "high", "client_id": client, "tags": ["hardware"]}),
    )
    .await;
    let (tech_id, tech) = user(&app, &t.admin, "tech").await;

    let s = sign_in(&app, &admin_email("Queue Console")).await;
    let q = get(&app, "/console/tickets", &s.cookie).await;
    assert_eq!(q.status, StatusCode::OK, "{}", q.html);
    assert_eq!(q.title(), "Tickets · Nestogy");
    assert!(q.html.contains("(51)"), "{}", q.html);
    assert!(q.has_id(&format!("ticket-{fire}")));
    assert!(q.html.contains("Acme Widgets"));
    assert!(!q.html.contains("Their secret outage"));
    assert!(!q.html.contains("Their Client"));
    assert_eq!(q.html.matches("name=\"ids\"").count(), 50);
    for label in [
        "for=\"f-priority\"",
        "for=\"f-q\"",
        "for=\"f-tag\"",
        "for=\"f-sla\"",
    ] {
        assert!(q.html.contains(label), "{label}");
    }
    let csrf = q.csrf();
    assert!(!csrf.is_empty());
    // The keyboard script: first-party, allowed by the page's CSP.
    assert!(
        q.html
            .contains("<script src=\"/console/static/app.js\" defer></script>")
    );
    let csp = q.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let js = get(&app, "/console/static/app.js", "").await;
    assert_eq!(js.status, StatusCode::OK);
    assert!(
        js.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(js.html.contains("#queue tbody tr") && js.html.contains("\"j\""));

    // The next page keeps the filters.
    let low = get(&app, "/console/tickets?priority=low", &s.cookie).await;
    assert_eq!(low.status, StatusCode::OK);
    assert!(low.html.contains("(50)"));
    assert!(!low.has_id("next-page"));
    let all = get(&app, "/console/tickets?status=new&status=open", &s.cookie).await;
    let next = href_of(&all, "next-page");
    assert!(next.contains("status=new&status=open"), "{next}");
    assert!(next.contains("cursor="), "{next}");
    let second = get(&app, &next, &s.cookie).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.html);
    assert_eq!(second.html.matches("name=\"ids\"").count(), 1);
    assert!(!second.has_id("next-page"));

    // Filters: priority, text, client.
    let high = get(&app, "/console/tickets?priority=high", &s.cookie).await;
    assert!(high.html.contains("(1)"));
    assert!(high.has_id(&format!("ticket-{fire}")));
    let text = get(&app, "/console/tickets?q=printer", &s.cookie).await;
    assert!(text.has_id(&format!("ticket-{fire}")));
    assert!(!text.html.contains("Routine request"));
    let by_client = get(
        &app,
        &format!("/console/tickets?client_id={client}"),
        &s.cookie,
    )
    .await;
    assert!(by_client.html.contains("(1)"), "{}", by_client.html);
    let tagged = get(&app, "/console/tickets?tag=Hardware", &s.cookie).await;
    assert!(tagged.html.contains("(1)"), "{}", tagged.html);
    assert!(tagged.has_id(&format!("ticket-{fire}")));
    let combined = get(
        &app,
        "/console/tickets?priority=low&q=printer&status=new",
        &s.cookie,
    )
    .await;
    assert!(combined.has_id("no-tickets"), "{}", combined.html);
    let bad = get(&app, "/console/tickets?status=nonsense", &s.cookie).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    // Bulk assign, then the result after the 303.
    let routine = app
        .get("/api/v1/tickets?priority=low&limit=2", &t.admin)
        .await;
    let ids: Vec<String> = routine.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    let r = post(
        &app,
        "/console/tickets/bulk",
        &s.cookie,
        &[
            ("csrf", &csrf),
            ("back", "priority=low"),
            ("ids", &ids[0]),
            ("ids", &ids[1]),
            ("assignee_id", &tech_id),
            ("status", "new"),
            ("action", "assign"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    assert!(r.location().starts_with("/console/tickets?priority=low"));
    for id in &ids {
        assert_eq!(ticket(&app, &t.admin, id).await["assignee_id"], tech_id);
    }
    let shown = get(&app, r.location(), &s.cookie).await;
    assert!(shown.has_id("bulk-result"));
    assert!(shown.html.contains("2 ticket(s) assigned."));
    let unassigned = get(&app, "/console/tickets?unassigned=true", &s.cookie).await;
    assert!(unassigned.html.contains("(49)"), "{}", unassigned.html);

    // Bulk status.
    let r = post(
        &app,
        "/console/tickets/bulk",
        &s.cookie,
        &[
            ("csrf", &csrf),
            ("back", ""),
            ("ids", &ids[0]),
            ("assignee_id", ""),
            ("status", "resolved"),
            ("action", "status"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    assert_eq!(ticket(&app, &t.admin, &ids[0]).await["status"], "resolved");
    assert_eq!(ticket(&app, &t.admin, &ids[1]).await["status"], "new");

    // Nothing selected: the API's 422, on the queue.
    let none = post(
        &app,
        "/console/tickets/bulk",
        &s.cookie,
        &[
            ("csrf", &csrf),
            ("back", ""),
            ("assignee_id", ""),
            ("status", "closed"),
            ("action", "status"),
        ],
    )
    .await;
    assert_eq!(
        none.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        none.html
    );
    assert!(none.has_id("problem") && none.has_id("queue"));

    // Without the CSRF token: refused, nothing changed.
    let forged = post(
        &app,
        "/console/tickets/bulk",
        &s.cookie,
        &[("ids", &ids[1]), ("status", "closed"), ("action", "status")],
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(ticket(&app, &t.admin, &ids[1]).await["status"], "new");

    // A tech sees the queue, and can assign to the admin too (the staff
    // directory, which every role reads).
    let ts = sign_in(&app, &tech).await;
    let q = get(
        &app,
        &format!("/console/tickets?assignee_id={tech_id}"),
        &ts.cookie,
    )
    .await;
    assert_eq!(q.status, StatusCode::OK, "{}", q.html);
    assert!(q.html.contains("(2)"), "{}", q.html);
    assert!(
        q.html
            .contains(&format!("<option value=\"{}\">Admin</option>", t.admin_id)),
        "{}",
        q.html
    );
}

/// One ticket: header with client, contact and SLA clocks, the thread with
/// internal notes marked and attachments downloaded through the console,
/// history, and every form's effect through the API; a 422 re-renders the
/// page with the API's message; another tenant's ticket is the 404 page.
#[tokio::test]
async fn the_ticket_page_shows_the_thread_and_acts_through_the_api() {
    let app = TestApp::new().await;
    let t = app.tenant("Ticket Console").await;
    let other = app.tenant("Ticket Other").await;
    let client = app.client(&t.admin, "Globex").await;
    // An SLA for high tickets, and a company in New York: the clocks'
    // due times are shown in its zone.
    let r = app
        .call(
            axum::http::Method::PUT,
            "/api/v1/sla/policies/high",
            Some(&t.admin),
            Some(json!({"first_response_minutes": 60, "resolution_minutes": 480})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app
        .patch(
            "/api/v1/company",
            &t.admin,
            json!({"time_zone": "America/New_York"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let c = app
        .post(
            &format!("/api/v1/clients/{client}/contacts"),
            &t.admin,
            json!({"name": "Hank Scorpio", "email": "hank@globex.example"}),
        )
        .await;
    assert_eq!(c.status, StatusCode::CREATED, "{}", c.body);
    let contact = c.id();
    let id = open_ticket(
        &app,
        &t.admin,
        json!({"subject": "VPN drops", "client_id": client, "contact_id": contact,
               "priority": "high", "description": "The VPN drops every hour."}),
    )
    .await;
    let theirs = open_ticket(&app, &other.admin, json!({"subject": "Theirs"})).await;
    let b64 = base64::engine::general_purpose::STANDARD.encode(b"log line\n");
    let m = app
        .post(
            &format!("/api/v1/tickets/{id}/messages"),
            &t.admin,
            json!({"kind": "note", "body": "Checked the firewall.", "attachments": [
                {"filename": "fw.log", "content_type": "text/plain", "content_base64": b64}]}),
        )
        .await;
    assert_eq!(m.status, StatusCode::CREATED, "{}", m.body);
    let attachment = m.body["message"]["attachments"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (tech_id, tech) = user(&app, &t.admin, "tech").await;
    let rate = app
        .patch(
            "/api/v1/company",
            &t.admin,
            json!({"settings": {"default_hourly_rate": "95.00"}}),
        )
        .await;
    assert_eq!(rate.status, StatusCode::OK, "{}", rate.body);

    let s = sign_in(&app, &admin_email("Ticket Console")).await;
    let base = format!("/console/tickets/{id}");
    let p = get(&app, &base, &s.cookie).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.html);
    assert_eq!(p.title(), "#1 VPN drops · Nestogy");
    for text in [
        "Globex",
        "Hank Scorpio",
        "The VPN drops every hour.",
        "Checked the firewall.",
        "Internal note",
        "fw.log",
    ] {
        assert!(p.html.contains(text), "{text} missing");
    }
    assert!(p.has_id("response-due") && p.has_id("history"));
    let new_york = nestogy_web::fmt::Fmt {
        locale: nestogy_domain::billing::locale::Locale::EnUs,
        zone: chrono_tz::America::New_York,
    };
    let sla = &ticket(&app, &t.admin, &id).await["sla"];
    for key in ["response_due", "resolution_due"] {
        let due: chrono::DateTime<chrono::Utc> =
            serde_json::from_value(sla[key].clone()).expect("a due time");
        let shown = new_york.datetime(due);
        assert!(shown.ends_with("EST") || shown.ends_with("EDT"), "{shown}");
        assert!(p.html.contains(&shown), "{shown} not in {}", p.html);
    }
    let csrf = p.csrf();
    for form in [
        "status-form",
        "priority-form",
        "assign-form",
        "tags-form",
        "message-form",
        "time-form",
        "asset-form",
        "project-form",
        "timer-form",
        "merge-form",
    ] {
        assert!(p.has_id(form), "{form}");
    }
    let splits = p.html.matches("split-form\"").count();
    assert_eq!(splits, 2, "a split form on each of the two messages");
    assert_eq!(
        p.html.matches("name=\"csrf\"").count(),
        12 + splits,
        "ten forms, the split forms and the frame's two"
    );

    // The attachment, through the console.
    let a = get(&app, &format!("{base}/attachments/{attachment}"), &s.cookie).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.html, "log line\n");
    assert!(
        a.headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("fw.log")
    );
    assert_eq!(a.headers["content-type"], "text/plain");
    assert!(
        a.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("sandbox")
    );
    let nf = get(&app, &format!("{base}/attachments/{id}"), &s.cookie).await;
    assert_eq!(nf.status, StatusCode::NOT_FOUND);

    // Another tenant's ticket, and a made-up id: the 404 page.
    let nf = get(&app, &format!("/console/tickets/{theirs}"), &s.cookie).await;
    assert_eq!(nf.status, StatusCode::NOT_FOUND);
    assert!(!nf.html.contains("Theirs"));
    let nf = get(&app, "/console/tickets/not-an-id", &s.cookie).await;
    assert_eq!(nf.status, StatusCode::NOT_FOUND);

    // Each form, and its effect through the API.
    let send = |path: &'static str, fields: Vec<(&'static str, String)>| {
        let (app, cookie, base, csrf) = (&app, s.cookie.clone(), base.clone(), csrf.clone());
        async move {
            let mut f: Vec<(&str, &str)> = vec![("csrf", csrf.as_str())];
            f.extend(fields.iter().map(|(k, v)| (*k, v.as_str())));
            post(app, &format!("{base}/{path}"), &cookie, &f).await
        }
    };
    let r = send("status", vec![("status", "in_progress".into())]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    assert_eq!(r.location(), base);
    let r = send("priority", vec![("priority", "critical".into())]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    let r = send("assign", vec![("assignee_id", tech_id.clone())]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    let r = send("tags", vec![("tags", "vpn, Network".into())]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    let now = ticket(&app, &t.admin, &id).await;
    assert_eq!(now["status"], "in_progress");
    assert_eq!(now["priority"], "critical");
    assert_eq!(now["assignee_id"], tech_id);
    assert_eq!(now["tags"], json!(["vpn", "network"]));

    // The message form is multipart (attachments): with a file, and
    // without the CSRF token refused.
    let r = post_file(
        &app,
        &format!("{base}/messages"),
        &s.cookie,
        &[
            ("csrf", &csrf),
            ("kind", "note"),
            ("body", "Escalated to the ISP."),
        ],
        "attachments",
        Some(("isp-ticket.txt", "text/plain", b"ISP ref 4711")),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    let forged = post_file(
        &app,
        &format!("{base}/messages"),
        &s.cookie,
        &[("kind", "note"), ("body", "Forged")],
        "attachments",
        None,
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let urlencoded = send(
        "messages",
        vec![("kind", "note".into()), ("body", "Plain".into())],
    )
    .await;
    assert_eq!(urlencoded.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let msgs = app
        .get(&format!("/api/v1/tickets/{id}/messages"), &t.admin)
        .await;
    let last = msgs.body.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["kind"], "note");
    assert_eq!(last["body"], "Escalated to the ISP.");
    assert_eq!(
        last["attachments"][0]["filename"], "isp-ticket.txt",
        "{last}"
    );
    let att = last["attachments"][0]["id"].as_str().unwrap().to_owned();
    let (status, _, bytes) = app
        .get_bytes(&format!("/api/v1/tickets/{id}/attachments/{att}"), &t.admin)
        .await;
    assert_eq!(
        (status, bytes.as_slice()),
        (StatusCode::OK, b"ISP ref 4711".as_slice())
    );

    let r = send(
        "time",
        vec![
            ("minutes", "45".into()),
            ("description", "Router swap".into()),
            ("billable", "true".into()),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    let time = app
        .get(&format!("/api/v1/time-entries?ticket_id={id}"), &t.admin)
        .await;
    assert_eq!(time.body["total"], 1, "{}", time.body);
    assert_eq!(time.body["data"][0]["minutes"], 45);
    assert_eq!(time.body["data"][0]["billable"], true);

    // A public reply is mailed to the contact; on a ticket with no one to
    // mail, the API's 409 is shown beside the form.
    let r = post_file(
        &app,
        &format!("{base}/messages"),
        &s.cookie,
        &[
            ("csrf", &csrf),
            ("kind", "reply"),
            ("body", "We are on it."),
        ],
        "attachments",
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    let msgs = app
        .get(&format!("/api/v1/tickets/{id}/messages"), &t.admin)
        .await;
    let last = msgs.body.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["kind"], "reply");
    assert_eq!(last["body"], "We are on it.");
    let lonely = open_ticket(&app, &t.admin, json!({"subject": "No contact"})).await;
    let r = post_file(
        &app,
        &format!("/console/tickets/{lonely}/messages"),
        &s.cookie,
        &[("csrf", &csrf), ("kind", "reply"), ("body", "Hello?")],
        "attachments",
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.html);
    assert!(r.has_id("message-form") && r.html.contains("Hello?"));

    // The page shows it all, with the history.
    let p = get(&app, &base, &s.cookie).await;
    assert!(p.html.contains("Escalated to the ISP."));
    assert!(p.html.contains("Public reply") && p.html.contains("We are on it."));
    assert!(p.html.contains("Router swap"));
    assert!(p.html.contains("New → In progress"), "{}", p.html);
    assert!(
        p.html.contains("<dd id=\"priority\">Critical</dd>") && p.html.contains("vpn, network")
    );

    // 422s: the page again, the API's message beside the form, input kept.
    let r = post_file(
        &app,
        &format!("{base}/messages"),
        &s.cookie,
        &[("csrf", &csrf), ("kind", "note"), ("body", "  ")],
        "attachments",
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.html);
    assert!(r.has_id("message-form") && r.html.contains("class=\"problem\""));
    assert!(r.html.contains("<code>body</code>"), "{}", r.html);
    let r = send(
        "time",
        vec![
            ("minutes", "0".into()),
            ("description", "Nothing much".into()),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.html);
    assert!(r.html.contains("Nothing much"));
    let time = app
        .get(&format!("/api/v1/time-entries?ticket_id={id}"), &t.admin)
        .await;
    assert_eq!(time.body["total"], 1);

    // Without the CSRF token: refused, nothing changed.
    let forged = post(
        &app,
        &format!("{base}/status"),
        &s.cookie,
        &[("status", "closed")],
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(ticket(&app, &t.admin, &id).await["status"], "in_progress");
    // Another tenant's ticket cannot be acted on either.
    let r = post(
        &app,
        &format!("/console/tickets/{theirs}/status"),
        &s.cookie,
        &[("csrf", &csrf), ("status", "closed")],
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(ticket(&app, &other.admin, &theirs).await["status"], "new");

    // A tech (who may not list users) assigns to themselves or nobody.
    let ts = sign_in(&app, &tech).await;
    let p = get(&app, &base, &ts.cookie).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.html);
    assert!(
        p.html
            .contains(&format!("<option value=\"{tech_id}\" selected>"))
    );
    let r = post(
        &app,
        &format!("{base}/assign"),
        &ts.cookie,
        &[("csrf", &p.csrf()), ("assignee_id", "")],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    assert_eq!(
        ticket(&app, &t.admin, &id).await["assignee_id"],
        Value::Null
    );
}

/// A new ticket: the tenant's clients to choose from, the API's 422 beside
/// the fields, and the ticket made through the API; an accountant (no
/// ticket permission) gets the 403 page.
#[tokio::test]
async fn a_new_ticket_is_opened_through_the_api() {
    let app = TestApp::new().await;
    let t = app.tenant("New Ticket Console").await;
    let other = app.tenant("New Ticket Other").await;
    let client = app.client(&t.admin, "Initech").await;
    app.client(&other.admin, "Hidden Client").await;
    let (_, accountant) = user(&app, &t.admin, "accountant").await;

    let s = sign_in(&app, &admin_email("New Ticket Console")).await;
    let f = get(&app, "/console/tickets/new", &s.cookie).await;
    assert_eq!(f.status, StatusCode::OK, "{}", f.html);
    assert_eq!(f.title(), "New ticket · Nestogy");
    assert!(f.html.contains("Initech") && !f.html.contains("Hidden Client"));
    let csrf = f.csrf();

    let bad = post(
        &app,
        "/console/tickets/new",
        &s.cookie,
        &[
            ("csrf", &csrf),
            ("client_id", &client),
            ("subject", ""),
            ("description", "Kept text"),
            ("priority", "high"),
        ],
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.html);
    assert!(bad.html.contains("class=\"field-problem\""), "{}", bad.html);
    assert!(bad.html.contains("Kept text"));
    assert_eq!(app.get("/api/v1/tickets", &t.admin).await.body["total"], 0);

    let ok = post(
        &app,
        "/console/tickets/new",
        &s.cookie,
        &[
            ("csrf", &csrf),
            ("client_id", &client),
            ("subject", "Stapler missing"),
            ("description", "Red Swingline."),
            ("priority", "high"),
        ],
    )
    .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.html);
    let list = app.get("/api/v1/tickets", &t.admin).await;
    assert_eq!(list.body["total"], 1);
    let made = &list.body["data"][0];
    assert_eq!(made["subject"], "Stapler missing");
    assert_eq!(made["priority"], "high");
    assert_eq!(made["client_id"], client);
    assert_eq!(
        ok.location(),
        format!("/console/tickets/{}", made["id"].as_str().unwrap())
    );

    let forged = post(
        &app,
        "/console/tickets/new",
        &s.cookie,
        &[
            ("client_id", ""),
            ("subject", "x"),
            ("description", ""),
            ("priority", "low"),
        ],
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    let a = sign_in(&app, &accountant).await;
    let q = get(&app, "/console/tickets", &a.cookie).await;
    assert_eq!(q.status, StatusCode::FORBIDDEN);
    assert!(q.html.contains("id=\"problem\""));
}

/// In chromium: the queue's keys (j and k move, Enter opens the ticket)
/// from the first-party script under the page's CSP, and the ticket page
/// (screenshots at `target/test-artifacts/console-queue.png` and
/// `console-ticket.png`).
#[tokio::test]
async fn the_queue_keys_work_in_a_real_browser() {
    let app = TestApp::new().await;
    let t = app.tenant("Keys Console").await;
    for subject in ["First ask", "Second ask", "Third ask"] {
        open_ticket(
            &app,
            &t.admin,
            json!({"subject": subject, "description": "x"}),
        )
        .await;
    }
    // The queue is newest first: the second row is the second-newest.
    let list = app.get("/api/v1/tickets", &t.admin).await;
    let second = list.body["data"][1].clone();
    let (base, stop) = crate::common::serve(app.web.clone()).await;

    let b = Browser::start().await;
    b.goto(&format!("{base}/console/login")).await;
    b.type_into("#email", &admin_email("Keys Console")).await;
    b.type_into("#password", PASSWORD).await;
    b.click("#sign-in").await;
    b.wait_for_text("h1", "Home").await;
    b.goto(&format!("{base}/console/tickets")).await;
    b.wait_for_text("h1", "Tickets").await;
    b.click("h1").await;
    for key in ["j", "j", "j", "k"] {
        b.press(key).await;
    }
    let current = b.find("#queue tr.current").await;
    assert!(!current.is_empty());
    b.keep_screenshot("console-queue.png").await;
    b.press("\u{E007}").await;
    b.wait_for_text("h1", second["subject"].as_str().unwrap())
        .await;
    assert!(b.current_url().await.ends_with(&format!(
        "/console/tickets/{}",
        second["id"].as_str().unwrap()
    )));
    b.keep_screenshot("console-ticket.png").await;
    b.quit().await;
    let _ = stop.send(());
}

/// Saved views in the queue: save the current filters under a name, find
/// them as a link that applies them, a name taken again re-renders the
/// queue with the API's message, delete one; each user sees their own, and
/// forms without the CSRF token are refused.
#[tokio::test]
async fn saved_views_are_saved_applied_and_deleted_from_the_queue() {
    let app = TestApp::new().await;
    let t = app.tenant("Views Console").await;
    let (_, tech) = user(&app, &t.admin, "tech").await;
    open_ticket(
        &app,
        &t.admin,
        json!({"subject": "Printer jam", "priority": "high", "description": "x"}),
    )
    .await;
    open_ticket(
        &app,
        &t.admin,
        json!({"subject": "Slow wifi", "priority": "low", "description": "x"}),
    )
    .await;
    let s = sign_in(&app, &admin_email("Views Console")).await;

    let q = get(&app, "/console/tickets?priority=high&status=new", &s.cookie).await;
    assert!(
        q.has_id("save-view") && q.html.contains("None yet"),
        "{}",
        q.html
    );
    let query = "status=new&priority=high";
    assert!(
        q.html
            .contains(&format!("value=\"{}\"", query.replace('&', "&amp;"))),
        "{}",
        q.html
    );
    let csrf = q.csrf();
    let r = post(
        &app,
        "/console/tickets/views",
        &s.cookie,
        &[("csrf", &csrf), ("name", "Hot"), ("query", query)],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    assert_eq!(r.location(), format!("/console/tickets?{query}"));
    let views = app.get("/api/v1/tickets/views", &t.admin).await.body;
    assert_eq!(views[0]["name"], "Hot");
    let view_id = views[0]["id"].as_str().unwrap().to_owned();

    // The view is a link on the plain queue; following it filters.
    let q = get(&app, "/console/tickets", &s.cookie).await;
    assert!(
        q.html.contains(&format!(
            "href=\"/console/tickets?{}\">Hot</a>",
            query.replace('&', "&amp;")
        )),
        "{}",
        q.html
    );
    let hot = get(&app, &format!("/console/tickets?{query}"), &s.cookie).await;
    assert!(
        hot.html.contains("Printer jam") && !hot.html.contains("Slow wifi"),
        "{}",
        hot.html
    );

    // The same name again: the queue with the API's message, nothing saved.
    let r = post(
        &app,
        "/console/tickets/views",
        &s.cookie,
        &[("csrf", &csrf), ("name", "Hot"), ("query", "")],
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.html);
    assert!(r.html.contains("already have a view named"), "{}", r.html);
    assert_eq!(
        app.get("/api/v1/tickets/views", &t.admin)
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Without the CSRF token: refused.
    let r = post(
        &app,
        "/console/tickets/views",
        &s.cookie,
        &[("name", "Sneaky"), ("query", "")],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = post(
        &app,
        &format!("/console/tickets/views/{view_id}/delete"),
        &s.cookie,
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // The tech has none of the admin's views, and cannot delete them.
    let ts = sign_in(&app, &tech).await;
    let q = get(&app, "/console/tickets", &ts.cookie).await;
    assert!(!q.html.contains(">Hot</a>"), "{}", q.html);
    let r = post(
        &app,
        &format!("/console/tickets/views/{view_id}/delete"),
        &ts.cookie,
        &[("csrf", &q.csrf())],
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.html);

    let r = post(
        &app,
        &format!("/console/tickets/views/{view_id}/delete"),
        &s.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    assert_eq!(
        app.get("/api/v1/tickets/views", &t.admin).await.body,
        json!([])
    );
}

/// With more clients than one page of the clients list (250), the queue and
/// the invoice list still name each row's client: the names are read by
/// the rows' ids, not from the first clients by name.
#[tokio::test]
async fn the_queue_and_the_invoices_name_clients_past_the_first_two_hundred() {
    let app = TestApp::new().await;
    let t = app.tenant("Many Clients Console").await;
    sqlx::query(
        "INSERT INTO clients (id, company_id, name, created_at, updated_at) \
         SELECT gen_random_uuid(), $1, 'Bulk client ' || lpad(i::text, 3, '0'), now(), now() \
         FROM generate_series(1, 250) i",
    )
    .bind(t.id)
    .execute(&app.owner)
    .await
    .expect("clients");
    // Last by name: never among the first 200.
    let zulu = app.client(&t.admin, "Zulu Logistics").await;
    open_ticket(
        &app,
        &t.admin,
        json!({"subject": "Forklift scanner down", "client_id": zulu}),
    )
    .await;
    let r = app
        .post(
            "/api/v1/invoices",
            &t.admin,
            json!({"client_id": zulu, "lines": [{"description": "Support", "quantity": "1", "unit_price": "10.00"}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    let s = sign_in(&app, &admin_email("Many Clients Console")).await;
    for path in ["/console/tickets", "/console/invoices"] {
        let p = get(&app, path, &s.cookie).await;
        assert_eq!(p.status, StatusCode::OK, "{path}: {}", p.html);
        assert!(p.html.contains("Zulu Logistics"), "{path}: {}", p.html);
        assert!(!p.html.contains("(another client)"), "{path}");
    }
}

/// A new ticket or a message posted twice from the same page (a double
/// click) is stored once: the forms carry a key of their own, which the
/// console sends as the API's `Idempotency-Key`.
#[tokio::test]
async fn console_ticket_forms_posted_twice_store_once() {
    let app = TestApp::new().await;
    let t = app.tenant("Twice MSP").await;
    let client = app.client(&t.admin, "Acme Twice").await;
    let s = sign_in(&app, &admin_email("Twice MSP")).await;
    let form = get(&app, "/console/tickets/new", &s.cookie).await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.html);
    let (csrf, once) = (form.csrf(), form.input_value("once"));
    let fields = [
        ("csrf", csrf.as_str()),
        ("once", once.as_str()),
        ("client_q", ""),
        ("client_id", client.as_str()),
        ("subject", "VPN drops"),
        ("description", "Every hour."),
        ("priority", "medium"),
    ];
    let first = post(&app, "/console/tickets/new", &s.cookie, &fields).await;
    let second = post(&app, "/console/tickets/new", &s.cookie, &fields).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.html);
    assert_eq!(second.status, StatusCode::SEE_OTHER, "{}", second.html);
    assert_eq!(first.location(), second.location());
    assert_eq!(app.count("SELECT count(*) FROM tickets").await, 1);

    let page = get(&app, first.location(), &s.cookie).await;
    let (csrf, once) = (page.csrf(), page.input_value("once"));
    let messages = format!("{}/messages", first.location());
    for _ in 0..2 {
        let fields = [
            ("csrf", csrf.as_str()),
            ("once", once.as_str()),
            ("kind", "note"),
            ("body", "Called the ISP."),
        ];
        let r = post_file(&app, &messages, &s.cookie, &fields, "attachments", None).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    }
    let notes = "SELECT count(*) FROM ticket_messages WHERE body = 'Called the ISP.'";
    assert_eq!(app.count(notes).await, 1);
    let again = get(&app, first.location(), &s.cookie).await;
    assert_ne!(again.input_value("once"), once, "a new page, a new key");
}
