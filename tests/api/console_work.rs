//! The console's work pages: assets (list with filters, bulk status,
//! warranties expiring, one asset with its history, create and edit),
//! projects (list, tasks and progress, linked tickets, create and edit),
//! time (entries with filters, timers, logging, billing time onto a draft)
//! and reports (tables, charts, CSV), each action checked through the API.

use axum::http::StatusCode;
use chrono::Duration;
use serde_json::json;

use crate::common::TestApp;
use crate::console::{admin_email, get, post, sign_in, user};

async fn asset(app: &TestApp, token: &str, body: serde_json::Value) -> String {
    let r = app.post("/api/v1/assets", token, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.id()
}

/// Owned form fields as the pairs `post` sends.
fn pairs<'a>(v: &'a [(&'a str, String)]) -> Vec<(&'a str, &'a str)> {
    v.iter().map(|(k, val)| (*k, val.as_str())).collect()
}

#[tokio::test]
async fn asset_list_filters_changes_status_in_bulk_and_keeps_to_its_tenant() {
    let app = TestApp::new().await;
    let t = app.tenant("Asset List MSP").await;
    let other = app.tenant("Other Asset MSP").await;
    let client = app.client(&t.admin, "Acme <Corp>").await;
    let laptop = asset(
        &app,
        &t.admin,
        json!({"client_id": client, "name": "Pat's laptop", "type": "laptop", "serial": "SN-LAP-1"}),
    )
    .await;
    let server = asset(
        &app,
        &t.admin,
        json!({"client_id": client, "name": "File server", "type": "server"}),
    )
    .await;
    let their_client = app.client(&other.admin, "Their Corp").await;
    let theirs = asset(
        &app,
        &other.admin,
        json!({"client_id": their_client, "name": "Secret box", "type": "server"}),
    )
    .await;
    let s = sign_in(&app, &admin_email("Asset List MSP")).await;

    let list = get(&app, "/console/assets", &s.cookie).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.html);
    assert_eq!(list.title(), "Assets · Nestogy");
    assert!(list.has_id(&format!("asset-{laptop}")));
    assert!(list.has_id(&format!("asset-{server}")));
    assert!(!list.has_id(&format!("asset-{theirs}")));
    assert!(list.html.contains("Acme &lt;Corp&gt;"), "{}", list.html);
    assert!(!list.html.contains("Secret box"));
    assert!(!list.html.contains("Their Corp"));
    assert!(list.html.contains("aria-current=\"page\">Assets<"));

    let servers = get(&app, "/console/assets?type=server", &s.cookie).await;
    assert!(servers.has_id(&format!("asset-{server}")));
    assert!(!servers.has_id(&format!("asset-{laptop}")));
    let found = get(&app, "/console/assets?q=SN-LAP", &s.cookie).await;
    assert!(found.has_id(&format!("asset-{laptop}")));
    assert!(!found.has_id(&format!("asset-{server}")));
    let bad = get(&app, "/console/assets?status=nonsense", &s.cookie).await;
    assert!(bad.status.is_client_error(), "{}", bad.status);
    assert!(bad.html.contains("id=\"problem\""));

    // Bulk status: the token, then the change, seen through the API.
    assert!(list.has_id("bulk-status"));
    let csrf = list.csrf();
    let without = post(
        &app,
        "/console/assets/bulk-status",
        &s.cookie,
        &[("ids", &laptop), ("status", "spare")],
    )
    .await;
    assert_eq!(without.status, StatusCode::FORBIDDEN);
    let a = app.get(&format!("/api/v1/assets/{laptop}"), &t.admin).await;
    assert_eq!(a.body["status"], "in_use");
    let none = post(
        &app,
        "/console/assets/bulk-status",
        &s.cookie,
        &[
            ("csrf", &csrf),
            ("status", "spare"),
            ("back", "?type=server"),
        ],
    )
    .await;
    assert_eq!(
        none.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        none.html
    );
    assert!(none.html.contains("role=\"alert\""), "{}", none.html);
    assert!(none.has_id(&format!("asset-{server}")), "the list again");
    let done = post(
        &app,
        "/console/assets/bulk-status",
        &s.cookie,
        &[
            ("csrf", &csrf),
            ("ids", &laptop),
            ("ids", &server),
            ("status", "spare"),
            ("back", "?type=laptop"),
        ],
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    assert_eq!(done.location(), "/console/assets?type=laptop&changed=2");
    for id in [&laptop, &server] {
        let a = app.get(&format!("/api/v1/assets/{id}"), &t.admin).await;
        assert_eq!(a.body["status"], "spare");
    }
    let after = get(&app, done.location(), &s.cookie).await;
    assert!(after.html.contains("2 assets changed."));
    // Another tenant's asset cannot be changed through the form.
    let r = post(
        &app,
        "/console/assets/bulk-status",
        &s.cookie,
        &[("csrf", &csrf), ("ids", &theirs), ("status", "retired")],
    )
    .await;
    assert!(r.status.is_client_error(), "{}", r.status);
    let a = app
        .get(&format!("/api/v1/assets/{theirs}"), &other.admin)
        .await;
    assert_eq!(a.body["status"], "in_use");

    // An accountant gets the API's 403 as a page.
    let (_, acc) = user(&app, &t.admin, "accountant").await;
    let acs = sign_in(&app, &acc).await;
    let r = get(&app, "/console/assets", &acs.cookie).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.html);
    assert!(r.title().starts_with("Not allowed"));
}

#[tokio::test]
async fn an_asset_is_created_shown_with_its_history_and_edited() {
    let app = TestApp::new().await;
    let t = app.tenant("Asset Page MSP").await;
    let other = app.tenant("Other Asset Page MSP").await;
    let client = app.client(&t.admin, "Beta Builders").await;
    let loc = app
        .post(
            &format!("/api/v1/clients/{client}/locations"),
            &t.admin,
            json!({"name": "Head office"}),
        )
        .await
        .id();
    let their_client = app.client(&other.admin, "Their Corp").await;
    let theirs = asset(
        &app,
        &other.admin,
        json!({"client_id": their_client, "name": "Secret box", "type": "server"}),
    )
    .await;
    let (_, tech) = user(&app, &t.admin, "tech").await;
    let s = sign_in(&app, &tech).await;

    let form = get(&app, "/console/assets/new", &s.cookie).await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.html);
    assert_eq!(form.title(), "New asset · Nestogy");
    assert!(form.html.contains("Beta Builders"));
    assert!(!form.html.contains("Their Corp"));
    let csrf = form.csrf();
    let fields = |name: &'static str, mac: &'static str| {
        vec![
            ("client_id", client.clone()),
            ("name", name.to_owned()),
            ("type", "laptop".to_owned()),
            ("status", "in_use".to_owned()),
            ("serial", "SN-9".to_owned()),
            ("mac_address", mac.to_owned()),
            ("purchase_cost", "1299.5".to_owned()),
            ("warranty_expires", "2030-06-30".to_owned()),
        ]
    };
    let as_form = |v: &[(&'static str, String)], csrf: &str| {
        let mut f: Vec<(&str, String)> = v.to_vec();
        f.push(("csrf", csrf.to_owned()));
        f
    };
    let refused_f = as_form(&fields("Reception <PC>", "not-a-mac"), &csrf);
    let refs = pairs(&refused_f);
    let refused = post(&app, "/console/assets/new", &s.cookie, &refs).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.html
    );
    assert!(refused.html.contains("role=\"alert\""));
    assert!(refused.html.contains("mac_address"), "{}", refused.html);
    assert!(
        refused.html.contains("value=\"Reception &lt;PC&gt;\""),
        "what was typed"
    );
    let no_token = post(
        &app,
        "/console/assets/new",
        &s.cookie,
        &refs[..refs.len() - 1],
    )
    .await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);

    let good = as_form(&fields("Reception <PC>", "AA-BB-CC-DD-EE-0F"), &csrf);
    let refs = pairs(&good);
    let made = post(&app, "/console/assets/new", &s.cookie, &refs).await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.html);
    let id = made
        .location()
        .strip_prefix("/console/assets/")
        .expect("the asset's page")
        .to_owned();
    let a = app.get(&format!("/api/v1/assets/{id}"), &t.admin).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["name"], "Reception <PC>");
    assert_eq!(a.body["mac_address"], "aa:bb:cc:dd:ee:0f");
    assert_eq!(a.body["purchase_cost"], "1299.50");

    let page = get(&app, made.location(), &s.cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert_eq!(page.title(), "Reception &lt;PC&gt; · Nestogy");
    assert!(page.html.contains("€1,299.50"), "{}", page.html);
    assert!(page.html.contains("Jun 30, 2030"), "{}", page.html);
    assert!(page.html.contains("Head office"), "the location picker");
    assert!(page.has_id("history"));
    assert!(page.html.contains("Created"));

    // Edit: a refused value re-renders with the API's message, then a change.
    let csrf = page.csrf();
    let mut edit = fields("Reception <PC>", "aa:bb:cc:dd:ee:0f");
    edit.retain(|(k, _)| *k != "client_id");
    edit.push(("location_id", loc.clone()));
    edit.push(("notes", "front desk".to_owned()));
    let mut bad = edit.clone();
    bad.retain(|(k, _)| *k != "warranty_expires");
    bad.push(("warranty_expires", "2030-13-45".to_owned()));
    let bad = as_form(&bad, &csrf);
    let refs = pairs(&bad);
    let r = post(&app, made.location(), &s.cookie, &refs).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.html);
    assert!(r.html.contains("role=\"alert\""));
    edit.retain(|(k, _)| *k != "status");
    edit.push(("status", "in_repair".to_owned()));
    let ok = as_form(&edit, &csrf);
    let refs = pairs(&ok);
    let r = post(&app, made.location(), &s.cookie, &refs).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    let a = app.get(&format!("/api/v1/assets/{id}"), &t.admin).await;
    assert_eq!(a.body["status"], "in_repair");
    assert_eq!(a.body["location_id"], loc.as_str());
    assert_eq!(a.body["notes"], "front desk");
    let page = get(&app, made.location(), &s.cookie).await;
    assert!(page.html.contains("in_use → in_repair"), "{}", page.html);

    // Another tenant's asset and a junk id: the 404 page; no change.
    let nope = get(&app, &format!("/console/assets/{theirs}"), &s.cookie).await;
    assert_eq!(nope.status, StatusCode::NOT_FOUND);
    assert!(!nope.html.contains("Secret box"));
    let junk = get(&app, "/console/assets/123", &s.cookie).await;
    assert_eq!(junk.status, StatusCode::NOT_FOUND);
    let r = post(&app, &format!("/console/assets/{theirs}"), &s.cookie, &refs).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let a = app
        .get(&format!("/api/v1/assets/{theirs}"), &other.admin)
        .await;
    assert_eq!(a.body["name"], "Secret box");
}

#[tokio::test]
async fn warranties_expiring_soon_are_listed_by_window() {
    let app = TestApp::new().await;
    let t = app.tenant("Warranty MSP").await;
    let other = app.tenant("Other Warranty MSP").await;
    let client = app.client(&t.admin, "Gamma Garage").await;
    let today = app.clock_now().date_naive();
    let soon = asset(
        &app,
        &t.admin,
        json!({"client_id": client, "name": "Soon box", "type": "server",
               "warranty_expires": (today + Duration::days(10)).to_string()}),
    )
    .await;
    let later = asset(
        &app,
        &t.admin,
        json!({"client_id": client, "name": "Later box", "type": "server",
               "warranty_expires": (today + Duration::days(100)).to_string()}),
    )
    .await;
    let their_client = app.client(&other.admin, "Their Corp").await;
    let theirs = asset(
        &app,
        &other.admin,
        json!({"client_id": their_client, "name": "Secret box", "type": "server",
               "warranty_expires": (today + Duration::days(10)).to_string()}),
    )
    .await;
    let s = sign_in(&app, &admin_email("Warranty MSP")).await;
    let r = get(&app, "/console/assets/warranties", &s.cookie).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.html);
    assert_eq!(r.title(), "Warranties expiring soon · Nestogy");
    assert!(r.has_id(&format!("asset-{soon}")));
    assert!(!r.has_id(&format!("asset-{later}")));
    assert!(!r.has_id(&format!("asset-{theirs}")));
    assert!(r.html.contains("Gamma Garage"));
    let wide = get(&app, "/console/assets/warranties?days=200", &s.cookie).await;
    assert!(wide.has_id(&format!("asset-{soon}")));
    assert!(wide.has_id(&format!("asset-{later}")));
    let bad = get(&app, "/console/assets/warranties?days=900", &s.cookie).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bad.html.contains("days must be between 1 and 365"),
        "{}",
        bad.html
    );
}

#[tokio::test]
async fn projects_are_listed_created_and_edited() {
    let app = TestApp::new().await;
    let t = app.tenant("Project List MSP").await;
    let other = app.tenant("Other Project MSP").await;
    let client = app.client(&t.admin, "Delta <Dairy>").await;
    let their_client = app.client(&other.admin, "Their Corp").await;
    let theirs = app
        .post(
            "/api/v1/projects",
            &other.admin,
            json!({"client_id": their_client, "name": "Secret migration"}),
        )
        .await
        .id();
    let (_, tech) = user(&app, &t.admin, "tech").await;
    let s = sign_in(&app, &tech).await;

    let form = get(&app, "/console/projects/new", &s.cookie).await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.html);
    assert_eq!(form.title(), "New project · Nestogy");
    assert!(form.html.contains("Delta &lt;Dairy&gt;"));
    assert!(!form.html.contains("Their Corp"));
    let csrf = form.csrf();
    let refused = post(
        &app,
        "/console/projects/new",
        &s.cookie,
        &[
            ("csrf", &csrf),
            ("client_id", &client),
            ("name", "Office move"),
            ("status", "active"),
            ("budget_hours", "-4"),
        ],
    )
    .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.html
    );
    assert!(refused.html.contains("role=\"alert\""));
    assert!(
        refused.html.contains("value=\"Office move\""),
        "what was typed"
    );
    let no_token = post(
        &app,
        "/console/projects/new",
        &s.cookie,
        &[("client_id", &client), ("name", "Office move")],
    )
    .await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    let made = post(
        &app,
        "/console/projects/new",
        &s.cookie,
        &[
            ("csrf", &csrf),
            ("client_id", &client),
            ("name", "Office move"),
            ("status", "active"),
            ("due_date", "2030-03-31"),
            ("budget_hours", "40"),
        ],
    )
    .await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.html);
    let id = made
        .location()
        .strip_prefix("/console/projects/")
        .expect("the project's page")
        .to_owned();
    let p = app.get(&format!("/api/v1/projects/{id}"), &t.admin).await;
    assert_eq!(p.body["name"], "Office move");
    assert_eq!(p.body["status"], "active");
    assert_eq!(p.body["budget_hours"], "40");

    let list = get(&app, "/console/projects", &s.cookie).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.html);
    assert_eq!(list.title(), "Projects · Nestogy");
    assert!(list.has_id(&format!("project-{id}")));
    assert!(!list.has_id(&format!("project-{theirs}")));
    assert!(!list.html.contains("Secret migration"));
    let done = get(&app, "/console/projects?status=done", &s.cookie).await;
    assert!(!done.has_id(&format!("project-{id}")));

    // Edit: a refused change, then a saved one.
    let page = get(&app, &format!("/console/projects/{id}"), &s.cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert_eq!(page.title(), "Office move · Nestogy");
    let csrf = page.csrf();
    let r = post(
        &app,
        &format!("/console/projects/{id}"),
        &s.cookie,
        &[("csrf", &csrf), ("name", ""), ("status", "on_hold")],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.html);
    assert!(r.html.contains("role=\"alert\""));
    let r = post(
        &app,
        &format!("/console/projects/{id}"),
        &s.cookie,
        &[
            ("csrf", &csrf),
            ("name", "Office move 2030"),
            ("status", "on_hold"),
            ("description", "Two floors"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    let p = app.get(&format!("/api/v1/projects/{id}"), &t.admin).await;
    assert_eq!(p.body["name"], "Office move 2030");
    assert_eq!(p.body["status"], "on_hold");
    assert_eq!(p.body["description"], "Two floors");
    assert_eq!(p.body["due_date"], serde_json::Value::Null, "cleared");

    // Another tenant's project: the 404 page, and no change.
    let nope = get(&app, &format!("/console/projects/{theirs}"), &s.cookie).await;
    assert_eq!(nope.status, StatusCode::NOT_FOUND);
    assert!(!nope.html.contains("Secret migration"));
    let r = post(
        &app,
        &format!("/console/projects/{theirs}"),
        &s.cookie,
        &[("csrf", &csrf), ("name", "Mine now"), ("status", "done")],
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let p = app
        .get(&format!("/api/v1/projects/{theirs}"), &other.admin)
        .await;
    assert_eq!(p.body["name"], "Secret migration");
}

#[tokio::test]
async fn a_project_page_adds_and_completes_tasks_and_links_tickets() {
    let app = TestApp::new().await;
    let t = app.tenant("Project Page MSP").await;
    let other = app.tenant("Other Project Page MSP").await;
    let client = app.client(&t.admin, "Echo Events").await;
    let id = app
        .post(
            "/api/v1/projects",
            &t.admin,
            json!({"client_id": client, "name": "Network refresh"}),
        )
        .await
        .id();
    let ticket = app
        .post(
            "/api/v1/tickets",
            &t.admin,
            json!({"subject": "Switch <dead>", "description": "x", "client_id": client}),
        )
        .await;
    assert_eq!(ticket.status, StatusCode::CREATED, "{}", ticket.body);
    let ticket = ticket.id();
    let their_client = app.client(&other.admin, "Their Corp").await;
    let their_ticket = app
        .post(
            "/api/v1/tickets",
            &other.admin,
            json!({"subject": "Their secret", "description": "x", "client_id": their_client}),
        )
        .await
        .id();
    let s = sign_in(&app, &admin_email("Project Page MSP")).await;
    let path = format!("/console/projects/{id}");

    let page = get(&app, &path, &s.cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.html.contains("aria-valuenow=\"0\""), "{}", page.html);
    assert!(page.has_id("project-progress"));
    assert!(page.html.contains("<progress"));
    assert!(
        page.html.contains("Switch &lt;dead&gt;"),
        "a linkable ticket"
    );
    assert!(!page.html.contains("Their secret"));
    let csrf = page.csrf();

    // Tasks: refused, added twice, one completed.
    let r = post(
        &app,
        &format!("{path}/tasks"),
        &s.cookie,
        &[("csrf", &csrf), ("title", "  ")],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.html);
    assert!(r.html.contains("role=\"alert\""));
    let r = post(
        &app,
        &format!("{path}/tasks"),
        &s.cookie,
        &[("title", "Order switches")],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    for title in ["Order switches", "Install switches"] {
        let r = post(
            &app,
            &format!("{path}/tasks"),
            &s.cookie,
            &[
                ("csrf", &csrf),
                ("title", title),
                ("due_date", "2030-01-31"),
            ],
        )
        .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    }
    let tasks = app
        .get(&format!("/api/v1/projects/{id}/tasks"), &t.admin)
        .await;
    assert_eq!(tasks.body["total"], 2, "{}", tasks.body);
    let first = tasks.body["data"][0]["id"].as_str().unwrap().to_owned();
    let page = get(&app, &path, &s.cookie).await;
    assert!(page.has_id(&format!("complete-{first}")));
    let no_token = post(
        &app,
        &format!("{path}/tasks/{first}/complete"),
        &s.cookie,
        &[],
    )
    .await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    let r = post(
        &app,
        &format!("{path}/tasks/{first}/complete"),
        &s.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    let p = app.get(&format!("/api/v1/projects/{id}"), &t.admin).await;
    assert_eq!(p.body["progress"]["tasks_done"], 1);
    assert_eq!(p.body["progress"]["percent"], 50);
    let page = get(&app, &path, &s.cookie).await;
    assert!(page.html.contains("aria-valuenow=\"50\""), "{}", page.html);
    assert!(page.html.contains("1 of 2 tasks done (50%)"));
    assert!(!page.has_id(&format!("complete-{first}")));

    // Linking: another tenant's ticket is not found; ours is linked.
    let r = post(
        &app,
        &format!("{path}/tickets"),
        &s.cookie,
        &[("csrf", &csrf), ("ticket_id", &their_ticket)],
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = post(
        &app,
        &format!("{path}/tickets"),
        &s.cookie,
        &[("ticket_id", &ticket)],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = post(
        &app,
        &format!("{path}/tickets"),
        &s.cookie,
        &[("csrf", &csrf), ("ticket_id", &ticket)],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    let linked = app
        .get(&format!("/api/v1/projects/{id}/tickets"), &t.admin)
        .await;
    assert_eq!(linked.body["data"][0]["id"], ticket.as_str());
    let page = get(&app, &path, &s.cookie).await;
    assert!(page.has_id(&format!("ticket-{ticket}")));

    // An accountant reads the project but the API refuses its changes.
    let (_, acc) = user(&app, &t.admin, "accountant").await;
    let acs = sign_in(&app, &acc).await;
    let page = get(&app, &path, &acs.cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    let r = post(
        &app,
        &format!("{path}/tasks"),
        &acs.cookie,
        &[("csrf", &page.csrf()), ("title", "Sneaky")],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.title().starts_with("Not allowed"));
}

/// A project of `client` made through the API.
async fn project(app: &TestApp, token: &str, client: &str, name: &str) -> String {
    let r = app
        .post(
            "/api/v1/projects",
            token,
            json!({"client_id": client, "name": name}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.id()
}

#[tokio::test]
async fn the_time_page_starts_and_stops_timers_logs_time_and_filters() {
    let app = TestApp::new().await;
    let t = app.tenant("Time Page MSP").await;
    let other = app.tenant("Other Time MSP").await;
    let client = app.client(&t.admin, "Foxtrot Farms").await;
    let r = app
        .patch(
            &format!("/api/v1/clients/{client}"),
            &t.admin,
            json!({"hourly_rate": "100"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let p = project(&app, &t.admin, &client, "Rollout <west>").await;
    let their_client = app.client(&other.admin, "Their Corp").await;
    let their_p = project(&app, &other.admin, &their_client, "Secret work").await;
    let their_timer = app
        .post(
            "/api/v1/time-entries",
            &other.admin,
            json!({"project_id": their_p, "started_at": app.clock_now().to_rfc3339(), "description": "Their timer", "rate": "100"}),
        )
        .await
        .id();
    let (tech_id, tech) = user(&app, &t.admin, "tech").await;
    let s = sign_in(&app, &tech).await;

    let page = get(&app, "/console/time", &s.cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert_eq!(page.title(), "Time · Nestogy");
    assert!(page.has_id("start-timer"));
    assert!(page.has_id("log-time"));
    assert!(page.html.contains("Rollout &lt;west&gt;"));
    assert!(!page.html.contains("Secret work"));
    assert!(!page.has_id(&format!("timer-{their_timer}")));
    let csrf = page.csrf();
    let target = format!("project:{p}");

    // Start a timer; a second one is refused with the API's message.
    let no_token = post(
        &app,
        "/console/time/start",
        &s.cookie,
        &[("target", &target), ("description", "On site")],
    )
    .await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    let r = post(
        &app,
        "/console/time/start",
        &s.cookie,
        &[
            ("csrf", &csrf),
            ("target", &target),
            ("description", "On site"),
            ("billable", "true"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    let running = app.get("/api/v1/time-entries?running=true", &t.admin).await;
    assert_eq!(running.body["total"], 1, "{}", running.body);
    let timer = running.body["data"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(running.body["data"][0]["user_id"], tech_id.as_str());
    let again = post(
        &app,
        "/console/time/start",
        &s.cookie,
        &[
            ("csrf", &csrf),
            ("target", &target),
            ("description", "Twice"),
        ],
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.html);
    assert!(
        again.html.contains("timer running already"),
        "{}",
        again.html
    );
    assert!(again.html.contains("value=\"Twice\""), "what was typed");
    let page = get(&app, "/console/time?done=started", &s.cookie).await;
    assert!(page.has_id(&format!("timer-{timer}")));
    assert!(page.has_id(&format!("stop-{timer}")));

    // Stop it: not without the token, not another tenant's, then ours.
    let r = post(&app, &format!("/console/time/{timer}/stop"), &s.cookie, &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = post(
        &app,
        &format!("/console/time/{their_timer}/stop"),
        &s.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let theirs = app
        .get(&format!("/api/v1/time-entries/{their_timer}"), &other.admin)
        .await;
    assert_eq!(theirs.body["running"], true);
    // (Within the API token's lifetime.)
    app.clock.advance(Duration::minutes(5));
    let r = post(
        &app,
        &format!("/console/time/{timer}/stop"),
        &s.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    assert_eq!(r.location(), "/console/time?done=stopped");
    let e = app
        .get(&format!("/api/v1/time-entries/{timer}"), &t.admin)
        .await;
    assert_eq!(e.body["running"], false, "{}", e.body);
    assert_eq!(e.body["minutes"], 5);

    // Log time: refused, then logged.
    let today = app.clock_now().date_naive().to_string();
    let r = post(
        &app,
        "/console/time/log",
        &s.cookie,
        &[
            ("csrf", &csrf),
            ("target", &target),
            ("date", &today),
            ("minutes", "0"),
            ("description", "Cabling"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.html);
    assert!(r.html.contains("role=\"alert\""));
    assert!(r.html.contains("value=\"Cabling\""));
    let r = post(
        &app,
        "/console/time/log",
        &s.cookie,
        &[
            ("csrf", &csrf),
            ("target", &target),
            ("date", &today),
            ("minutes", "90"),
            ("description", "Cabling"),
            ("billable", "true"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    let list = app
        .get(&format!("/api/v1/time-entries?user_id={tech_id}"), &t.admin)
        .await;
    assert_eq!(list.body["total"], 2, "{}", list.body);
    let logged = list.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["minutes"] == 90)
        .expect("the logged entry");
    let logged_id = logged["id"].as_str().unwrap().to_owned();
    assert_eq!(logged["description"], "Cabling");
    assert_eq!(logged["billable"], true);

    // Filters, through the API's.
    let page = get(&app, "/console/time", &s.cookie).await;
    assert!(page.has_id(&format!("entry-{logged_id}")));
    assert!(page.html.contains("1 h 30 min"), "{}", page.html);
    assert!(page.html.contains("Foxtrot Farms"));
    let billed = get(&app, "/console/time?billed=true", &s.cookie).await;
    assert_eq!(billed.status, StatusCode::OK);
    assert!(!billed.has_id(&format!("entry-{logged_id}")));
    let unbilled = get(
        &app,
        &format!("/console/time?billed=false&user_id={tech_id}&client_id={client}"),
        &s.cookie,
    )
    .await;
    assert!(unbilled.has_id(&format!("entry-{logged_id}")));
    let tomorrow = (app.clock_now().date_naive() + Duration::days(2)).to_string();
    let later = get(&app, &format!("/console/time?from={tomorrow}"), &s.cookie).await;
    assert!(!later.has_id(&format!("entry-{logged_id}")));
    let bad = get(
        &app,
        &format!("/console/time?from={tomorrow}&to={today}"),
        &s.cookie,
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.html.contains("to must not be before from"));

    // A colleague's timer shows with their name (the staff directory, which
    // a tech may read), without a stop button for the tech.
    let admin_timer = app
        .post(
            "/api/v1/time-entries",
            &t.admin,
            json!({"project_id": p, "started_at": app.clock_now().to_rfc3339(), "description": "Admin work"}),
        )
        .await
        .id();
    let page = get(&app, "/console/time", &s.cookie).await;
    assert!(page.has_id(&format!("timer-{admin_timer}")));
    assert!(page.html.contains("<td>Admin</td>"), "{}", page.html);
    assert!(!page.has_id(&format!("stop-{admin_timer}")));
    assert!(
        page.html
            .contains(&format!("<option value=\"{}\">Admin</option>", t.admin_id)),
        "the user filter offers colleagues"
    );
}

#[tokio::test]
async fn bill_time_puts_a_clients_unbilled_time_on_a_draft_invoice() {
    let app = TestApp::new().await;
    let t = app.tenant("Bill Time MSP").await;
    let other = app.tenant("Other Bill MSP").await;
    let client = app.client(&t.admin, "Golf Goods").await;
    let p = project(&app, &t.admin, &client, "Rollout").await;
    for (minutes, what) in [(60, "Planning"), (30, "Install")] {
        let r = app
            .post(
                "/api/v1/time-entries",
                &t.admin,
                json!({"project_id": p, "minutes": minutes, "description": what, "rate": "100"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let their_client = app.client(&other.admin, "Their Corp").await;
    let s = sign_in(&app, &admin_email("Bill Time MSP")).await;

    let form = get(&app, "/console/time/bill", &s.cookie).await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.html);
    assert_eq!(form.title(), "Bill time · Nestogy");
    assert!(form.has_id("bill-time"));
    assert!(form.has_id("bill-time-submit"));
    assert!(form.html.contains("Golf Goods"));
    assert!(!form.html.contains("Their Corp"));
    let csrf = form.csrf();

    let r = post(
        &app,
        "/console/time/bill",
        &s.cookie,
        &[("client_id", &client)],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = post(
        &app,
        "/console/time/bill",
        &s.cookie,
        &[("csrf", &csrf), ("client_id", "")],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.html);
    assert!(r.html.contains("choose a client"));
    let r = post(
        &app,
        "/console/time/bill",
        &s.cookie,
        &[("csrf", &csrf), ("client_id", &their_client)],
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let r = post(
        &app,
        "/console/time/bill",
        &s.cookie,
        &[("csrf", &csrf), ("client_id", &client)],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    // The draft opens: its lines are the time.
    let invoice = r
        .location()
        .strip_prefix("/console/invoices/")
        .unwrap_or_else(|| panic!("the draft's page: {}", r.location()))
        .to_owned();
    let inv = app
        .get(&format!("/api/v1/invoices/{invoice}"), &t.admin)
        .await;
    assert_eq!(inv.status, StatusCode::OK, "{}", inv.body);
    assert_eq!(inv.body["status"], "draft");
    assert_eq!(inv.body["client_id"], client.as_str());
    assert_eq!(inv.body["lines"].as_array().unwrap().len(), 2);
    assert_eq!(inv.body["total"], "150.00");
    let draft = get(&app, r.location(), &s.cookie).await;
    assert_eq!(draft.status, StatusCode::OK, "{}", draft.html);
    assert!(draft.html.contains("<h1>Draft"), "{}", draft.html);
    assert!(draft.html.contains("Planning"));
    // A draft that is full (500 lines) leaves entries for another: the
    // form says so and links to the draft.
    let full = get(
        &app,
        &format!("/console/time/bill?client_id={client}&invoice={invoice}&remaining=3"),
        &s.cookie,
    )
    .await;
    assert_eq!(full.status, StatusCode::OK, "{}", full.html);
    assert!(full.html.contains(&format!(
        "id=\"billed-invoice\" href=\"/console/invoices/{invoice}\""
    )));
    assert!(full.html.contains("3 entries are left"));
    assert!(full.html.contains("€150.00"));
    let theirs = get(
        &app,
        &format!("/console/time/bill?invoice={}", uuid::Uuid::now_v7()),
        &s.cookie,
    )
    .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    let unbilled = app.get("/api/v1/time-entries?billed=false", &t.admin).await;
    assert_eq!(unbilled.body["total"], 0);

    // Nothing left: the API's 409 with its message, on the form.
    let r = post(
        &app,
        "/console/time/bill",
        &s.cookie,
        &[("csrf", &csrf), ("client_id", &client)],
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.html);
    assert!(r.has_id("bill-time"));
    assert!(r.html.contains("role=\"alert\""));

    // A tech may not bill.
    let (_, tech) = user(&app, &t.admin, "tech").await;
    let ts = sign_in(&app, &tech).await;
    let form = get(&app, "/console/time/bill", &ts.cookie).await;
    let r = post(
        &app,
        "/console/time/bill",
        &ts.cookie,
        &[("csrf", &form.csrf()), ("client_id", &client)],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

async fn aggregate(app: &TestApp, tenant: nestogy_domain::TenantId) {
    app.run_job(nestogy_jobs::reports::Aggregate {
        tenant,
        report: None,
        full: true,
    })
    .await
    .expect("aggregate");
}

#[tokio::test]
async fn reports_are_listed_by_role_and_shown_as_a_table_a_chart_and_csv() {
    let app = TestApp::new().await;
    let t = app.tenant("Reports MSP").await;
    let other = app.tenant("Other Reports MSP").await;
    let quoted = app.client(&t.admin, "Acme, \"Quoted\"\nInc").await;
    let plain = app.client(&t.admin, "Plain Co").await;
    for (client, subject) in [(&quoted, "One"), (&quoted, "Two"), (&plain, "Three")] {
        let r = app
            .post(
                "/api/v1/tickets",
                &t.admin,
                json!({"subject": subject, "description": "x", "client_id": client}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let their_client = app.client(&other.admin, "Their Corp").await;
    let r = app
        .post(
            "/api/v1/tickets",
            &other.admin,
            json!({"subject": "Theirs", "description": "x", "client_id": their_client}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    aggregate(&app, t.id).await;
    aggregate(&app, other.id).await;
    let s = sign_in(&app, &admin_email("Reports MSP")).await;

    let index = get(&app, "/console/reports", &s.cookie).await;
    assert_eq!(index.status, StatusCode::OK, "{}", index.html);
    assert_eq!(index.title(), "Reports · Nestogy");
    assert!(index.has_id("report-tickets_by_client"));
    assert!(index.has_id("report-finance_summary"));
    assert!(
        index
            .html
            .contains("href=\"/console/reports/tickets_by_client\"")
    );

    let path = "/console/reports/tickets_by_client";
    let page = get(&app, path, &s.cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert_eq!(page.title(), "Tickets by client · Nestogy");
    assert!(page.has_id("report-rows"));
    assert!(
        page.html.contains("<th scope=\"col\">Client name</th>"),
        "{}",
        page.html
    );
    assert!(
        page.html.contains("<td>Acme, &quot;Quoted&quot;\nInc</td>"),
        "{}",
        page.html
    );
    assert!(page.html.contains("Plain Co"));
    assert!(!page.html.contains("Their Corp"));
    // The chart: an SVG image with its title, a bar per client and series.
    assert!(page.html.contains("<svg id=\"report-chart\""));
    assert!(page.html.contains("role=\"img\""));
    assert!(
        page.html
            .contains("<title id=\"report-chart-title\">Tickets by client</title>")
    );
    assert!(
        page.html.contains("<title>Opened, Plain Co: 1</title>"),
        "{}",
        page.html
    );
    assert!(
        page.html
            .contains("<title>Opened, Acme, &quot;Quoted&quot;\nInc: 2</title>")
    );
    assert!(
        page.has_id("client_id"),
        "a client filter for a report by client"
    );
    assert!(
        page.html
            .contains("<figcaption class=\"muted\">By client name.</figcaption>"),
        "{}",
        page.html
    );

    // The client filter is the API's: only that client's rows; another
    // tenant's client is not found.
    let only = get(&app, &format!("{path}?client_id={plain}"), &s.cookie).await;
    assert_eq!(only.status, StatusCode::OK);
    assert!(only.html.contains("<title>Opened, Plain Co: 1</title>"));
    assert!(!only.html.contains("<title>Opened, Acme"), "{}", only.html);
    assert!(!only.html.contains("<td>Acme"));
    let theirs = get(&app, &format!("{path}?client_id={their_client}"), &s.cookie).await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    let bad = get(
        &app,
        &format!("{path}?from=2026-05-01&to=2026-01-01"),
        &s.cookie,
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.html.contains("from must not be after to"));
    let unknown = get(&app, "/console/reports/nonsense", &s.cookie).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    // CSV: the API's, with quotes, commas and newlines escaped.
    assert!(
        page.html
            .contains("href=\"/console/reports/tickets_by_client/csv\"")
    );
    let csv = get(&app, &format!("{path}/csv"), &s.cookie).await;
    assert_eq!(csv.status, StatusCode::OK, "{}", csv.html);
    assert!(
        csv.headers[axum::http::header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        csv.headers[axum::http::header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    assert!(
        csv.html
            .starts_with("period,client_id,client_name,opened,resolved\n"),
        "{}",
        csv.html
    );
    assert!(
        csv.html.contains(",\"Acme, \"\"Quoted\"\"\nInc\",2,0\n"),
        "{}",
        csv.html
    );
    assert!(!csv.html.contains("Their Corp"));
    let mut reader = csv::Reader::from_reader(csv.html.as_bytes());
    let names: Vec<String> = reader.records().map(|r| r.unwrap()[2].to_owned()).collect();
    assert!(
        names.contains(&"Acme, \"Quoted\"\nInc".to_owned()),
        "{names:?}"
    );

    // Recompute: the token, then a job.
    let r = post(&app, &format!("{path}/refresh"), &s.cookie, &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let before = app
        .count("SELECT count(*) FROM jobs WHERE kind = 'reports.aggregate'")
        .await;
    let r = post(
        &app,
        &format!("{path}/refresh"),
        &s.cookie,
        &[("csrf", &page.csrf())],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    assert_eq!(r.location(), format!("{path}?done=refresh"));
    let after = app
        .count("SELECT count(*) FROM jobs WHERE kind = 'reports.aggregate'")
        .await;
    assert_eq!(after, before + 1);

    // A tech sees the service reports only; finance ones are the 403 page.
    let (_, tech) = user(&app, &t.admin, "tech").await;
    let ts = sign_in(&app, &tech).await;
    let index = get(&app, "/console/reports", &ts.cookie).await;
    assert_eq!(index.status, StatusCode::OK);
    assert!(index.has_id("report-tickets_by_client"));
    assert!(!index.has_id("report-finance_summary"));
    for p in [
        "/console/reports/finance_summary",
        "/console/reports/finance_summary/csv",
    ] {
        let r = get(&app, p, &ts.cookie).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{p}");
    }
}

#[tokio::test]
async fn a_finance_report_draws_a_line_chart_in_the_companys_money() {
    let app = TestApp::new().await;
    let t = app.tenant("Finance Report MSP").await;
    let client = app
        .billed_client(&t.admin, "Hotel Hub", "ap@hotel.example")
        .await;
    app.open_invoice(&t.admin, &client, "Backup").await;
    aggregate(&app, t.id).await;
    let (_, acc) = user(&app, &t.admin, "accountant").await;
    let s = sign_in(&app, &acc).await;
    let page = get(&app, "/console/reports/finance_summary", &s.cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.html.contains("€361.50"), "{}", page.html);
    assert!(
        page.html.contains("<polyline"),
        "a line chart over the months"
    );
    assert!(
        page.html
            .contains("Line chart of Invoiced, Collected, Outstanding, Credit")
    );
    assert!(!page.has_id("client_id"), "not a report by client");
    assert!(page.html.contains("By period, in EUR."), "{}", page.html);
    let index = get(&app, "/console/reports", &s.cookie).await;
    assert!(index.has_id("report-finance_summary"));
    assert!(!index.has_id("report-tickets_by_client"));
}

#[tokio::test]
async fn management_reports_are_listed_served_and_prepared_through_the_console() {
    let app = TestApp::new().await;
    let t = app.tenant("Management MSP").await;
    app.tenant("Other Management MSP").await;
    app.run_job(nestogy_jobs::reports::Management {
        tenant: t.id,
        month: Some(app.clock_now().date_naive() - Duration::days(40)),
    })
    .await
    .expect("report");
    let list = app.get("/api/v1/management-reports", &t.admin).await;
    let month = list.body[0]["month"].as_str().expect("a report").to_owned();
    let ym = &month[..7];
    let s = sign_in(&app, &admin_email("Management MSP")).await;

    let index = get(&app, "/console/reports", &s.cookie).await;
    assert_eq!(index.status, StatusCode::OK, "{}", index.html);
    assert!(index.has_id("management"));
    assert!(index.has_id(&format!("management-{ym}")), "{}", index.html);
    let href = format!("/console/management-reports/{ym}/pdf");
    assert!(index.html.contains(&format!("href=\"{href}\"")));
    let pdf = get(&app, &href, &s.cookie).await;
    assert_eq!(pdf.status, StatusCode::OK);
    assert_eq!(
        pdf.headers[axum::http::header::CONTENT_TYPE],
        "application/pdf"
    );
    assert!(pdf.html.starts_with("%PDF"));
    let junk = get(&app, "/console/management-reports/junk/pdf", &s.cookie).await;
    assert_eq!(junk.status, StatusCode::NOT_FOUND);

    // Another tenant's admin: none listed, the PDF not found.
    let os = sign_in(&app, &admin_email("Other Management MSP")).await;
    let theirs = get(&app, "/console/reports", &os.cookie).await;
    assert!(!theirs.has_id(&format!("management-{ym}")));
    let r = get(&app, &href, &os.cookie).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Preparing one: the token, a refused month, then a job.
    let r = post(
        &app,
        "/console/management-reports",
        &s.cookie,
        &[("month", ym)],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let csrf = index.csrf();
    let r = post(
        &app,
        "/console/management-reports",
        &s.cookie,
        &[("csrf", &csrf), ("month", "2999-01")],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.html);
    assert!(
        r.html.contains("month must not be after this month"),
        "{}",
        r.html
    );
    assert!(r.html.contains("value=\"2999-01\""));
    let before = app
        .count("SELECT count(*) FROM jobs WHERE kind = 'reports.management'")
        .await;
    let r = post(
        &app,
        "/console/management-reports",
        &s.cookie,
        &[("csrf", &csrf), ("month", ym)],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    assert_eq!(r.location(), "/console/reports?done=management");
    let after = app
        .count("SELECT count(*) FROM jobs WHERE kind = 'reports.management'")
        .await;
    assert_eq!(after, before + 1);

    // A tech: no management block, the PDF refused.
    let (_, tech) = user(&app, &t.admin, "tech").await;
    let ts = sign_in(&app, &tech).await;
    let index = get(&app, "/console/reports", &ts.cookie).await;
    assert_eq!(index.status, StatusCode::OK);
    assert!(!index.has_id("management"));
    let r = get(&app, &href, &ts.cookie).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_asset_list_pages_with_the_apis_cursor_keeping_its_filters() {
    let app = TestApp::new().await;
    let t = app.tenant("Asset Pages MSP").await;
    let client = app.client(&t.admin, "India Inks").await;
    for i in 0..51 {
        asset(
            &app,
            &t.admin,
            json!({"client_id": client, "name": format!("Box {i:02}"), "type": "server"}),
        )
        .await;
    }
    asset(
        &app,
        &t.admin,
        json!({"client_id": client, "name": "Box 99 laptop", "type": "laptop"}),
    )
    .await;
    let s = sign_in(&app, &admin_email("Asset Pages MSP")).await;
    let first = get(&app, "/console/assets?type=server", &s.cookie).await;
    assert_eq!(first.status, StatusCode::OK);
    assert!(first.html.contains("51 assets"));
    assert!(first.html.contains(">Box 49<"));
    assert!(!first.html.contains(">Box 50<"));
    let key = "id=\"next-page\" href=\"";
    let at = first.html.find(key).expect("a next page") + key.len();
    let href = first.html[at..at + first.html[at..].find('"').unwrap()].replace("&amp;", "&");
    assert!(
        href.starts_with("/console/assets?type=server&cursor="),
        "{href}"
    );
    let second = get(&app, &href, &s.cookie).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.html);
    assert!(second.html.contains(">Box 50<"));
    assert!(!second.html.contains(">Box 49<"));
    assert!(!second.html.contains("Box 99 laptop"), "the filter stays");
    assert!(!second.has_id("next-page"));
}

/// The work pages in Debian's chromium: a project's progress bar, the
/// ticket-volume report's line chart and a report by client's bars, with
/// screenshots at `target/test-artifacts/work-*.png`.
#[tokio::test]
async fn the_work_pages_draw_in_a_real_browser() {
    let app = TestApp::new().await;
    let t = app.tenant("Browser Work MSP").await;
    let client = app.client(&t.admin, "Juliet Joinery").await;
    let other = app.client(&t.admin, "Kilo Kitchens").await;
    let p = project(&app, &t.admin, &client, "Office move").await;
    for (title, done) in [("Plan", true), ("Pack", true), ("Move", false)] {
        let task = app
            .post(
                &format!("/api/v1/projects/{p}/tasks"),
                &t.admin,
                json!({"title": title}),
            )
            .await
            .id();
        if done {
            let r = app
                .patch(
                    &format!("/api/v1/projects/{p}/tasks/{task}"),
                    &t.admin,
                    json!({"status": "done"}),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        }
    }
    for (c, n) in [(&client, 3), (&other, 1)] {
        for i in 0..n {
            let r = app
                .post(
                    "/api/v1/tickets",
                    &t.admin,
                    json!({"subject": format!("Ticket {i}"), "description": "x", "client_id": c}),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        }
    }
    aggregate(&app, t.id).await;

    let (base, stop) = crate::common::serve(app.web.clone()).await;
    let b = crate::webdriver::Browser::start().await;
    b.goto(&format!("{base}/console")).await;
    b.wait_for_text("h1", "Sign in").await;
    b.type_into("#email", &admin_email("Browser Work MSP"))
        .await;
    b.type_into("#password", crate::common::PASSWORD).await;
    b.click("#sign-in").await;
    b.wait_for_text("h1", "Home").await;

    b.goto(&format!("{base}/console/projects/{p}")).await;
    b.wait_for_text("h1", "Office move").await;
    assert_eq!(
        b.attribute("#project-progress", "aria-valuenow")
            .await
            .as_deref(),
        Some("66")
    );
    assert!(b.text("#summary").await.contains("2 of 3 tasks done (66%)"));
    b.keep_screenshot("work-project.png").await;

    b.goto(&format!("{base}/console/reports/tickets_by_client"))
        .await;
    b.wait_for_text("h1", "Tickets by client").await;
    // The bars' labels are rendered text of the SVG (not swallowed by an
    // unclosed element).
    let chart = b.text("#report-chart").await;
    assert!(chart.contains("Juliet Joinery"), "{chart}");
    assert!(chart.contains("Kilo Kitchens"), "{chart}");
    assert!(chart.contains("Opened"), "{chart}");
    b.keep_screenshot("work-report-bars.png").await;

    b.goto(&format!("{base}/console/reports/ticket_volume_daily"))
        .await;
    b.wait_for_text("h1", "Tickets opened, resolved and backlog by day")
        .await;
    let chart = b.text("#report-chart").await;
    assert!(chart.contains("Backlog"), "{chart}");
    b.keep_screenshot("work-report-lines.png").await;

    b.quit().await;
    let _ = stop.send(());
}
