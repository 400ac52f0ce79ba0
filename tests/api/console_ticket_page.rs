//! The console's ticket page (`/console/tickets/{id}`, crate nestogy-web):
//! the linked asset and project (shown, changed, another tenant's refused),
//! the timer (start, running with its stop button, one per user, stop into
//! the Time block) and the SLA clocks in words by the app's clock, with the
//! script that keeps them current. Each change is read back through the API.

use axum::http::StatusCode;
use chrono::Duration;
use serde_json::{Value, json};

use crate::common::{PASSWORD, TestApp};
use crate::console::{Page, admin_email, get, post, sign_in};

async fn created(app: &TestApp, token: &str, path: &str, body: Value) -> String {
    let r = app.post(path, token, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{path}: {}", r.body);
    r.id()
}

async fn token(app: &TestApp, email: &str) -> String {
    let r = app.login(email, PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["access_token"].as_str().expect("token").to_owned()
}

async fn ticket(app: &TestApp, token: &str, id: &str) -> Value {
    let r = app.get(&format!("/api/v1/tickets/{id}"), token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body
}

/// The text of the element with `id` up to its closing `</tag>`.
fn element<'a>(page: &'a Page, tag: &str, id: &str) -> &'a str {
    let key = format!("id=\"{id}\"");
    let at = page
        .html
        .find(&key)
        .unwrap_or_else(|| panic!("no #{id} in {}", page.html));
    let rest = &page.html[at..];
    &rest[..rest.find(&format!("</{tag}>")).unwrap_or(rest.len())]
}

/// The ticket's asset and project in the header with links to their pages
/// (and the asset's warranty end); the forms offer the client's assets and
/// open projects only; changing them goes through the API; another
/// tenant's asset is refused with the API's message and nothing changes;
/// another tenant's ticket is a 404 page; no CSRF token, 403.
#[tokio::test]
async fn console_ticket_page_shows_and_changes_the_asset_and_project() {
    let app = TestApp::new().await;
    let t = app.tenant("Linked Desk").await;
    let other = app.tenant("Linked Other").await;
    let client = app.client(&t.admin, "Acme Links").await;
    let elsewhere = app.client(&t.admin, "Beta Elsewhere").await;
    let pc = created(
        &app,
        &t.admin,
        "/api/v1/assets",
        json!({"client_id": client, "name": "Reception PC", "type": "workstation",
               "warranty_expires": "2099-01-15"}),
    )
    .await;
    let server = created(
        &app,
        &t.admin,
        "/api/v1/assets",
        json!({"client_id": client, "name": "File server", "type": "server"}),
    )
    .await;
    created(
        &app,
        &t.admin,
        "/api/v1/assets",
        json!({"client_id": elsewhere, "name": "Beta laptop", "type": "laptop"}),
    )
    .await;
    let move_project = created(
        &app,
        &t.admin,
        "/api/v1/projects",
        json!({"client_id": client, "name": "Office move"}),
    )
    .await;
    let old = created(
        &app,
        &t.admin,
        "/api/v1/projects",
        json!({"client_id": client, "name": "Finished rollout"}),
    )
    .await;
    let done = app
        .patch(
            &format!("/api/v1/projects/{old}"),
            &t.admin,
            json!({"status": "done"}),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    created(
        &app,
        &t.admin,
        "/api/v1/projects",
        json!({"client_id": elsewhere, "name": "Beta migration"}),
    )
    .await;
    let id = created(
        &app,
        &t.admin,
        "/api/v1/tickets",
        json!({"subject": "Printer jams", "client_id": client, "asset_id": pc}),
    )
    .await;
    let their_client = app.client(&other.admin, "Their Client").await;
    let their_asset = created(
        &app,
        &other.admin,
        "/api/v1/assets",
        json!({"client_id": their_client, "name": "Their laptop", "type": "laptop"}),
    )
    .await;
    let their_ticket = created(
        &app,
        &other.admin,
        "/api/v1/tickets",
        json!({"subject": "Their outage", "client_id": their_client}),
    )
    .await;

    let s = sign_in(&app, &admin_email("Linked Desk")).await;
    let base = format!("/console/tickets/{id}");
    let p = get(&app, &base, &s.cookie).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.html);
    assert_eq!(p.title(), "#1 Printer jams · Nestogy");
    let asset = element(&p, "dd", "asset");
    assert!(
        asset.contains(&format!("href=\"/console/assets/{pc}\"")) && asset.contains("Reception PC"),
        "{asset}"
    );
    assert!(asset.contains("warranty until"), "{asset}");
    assert!(element(&p, "dd", "project").contains("none"));
    let assets = element(&p, "select", "asset-select");
    assert!(assets.contains("Reception PC") && assets.contains("File server"));
    assert!(
        assets.contains(&format!("value=\"{pc}\" selected")),
        "{assets}"
    );
    assert!(!assets.contains("Beta laptop") && !p.html.contains("Their laptop"));
    let projects = element(&p, "select", "project-select");
    assert!(projects.contains("Office move"), "{projects}");
    assert!(!projects.contains("Finished rollout") && !projects.contains("Beta migration"));
    for label in ["for=\"asset-select\"", "for=\"project-select\""] {
        assert!(p.html.contains(label), "{label}");
    }
    let csrf = p.csrf();
    assert!(p.html.contains("action=\"/console/tickets/"));

    // Without the CSRF token: refused, nothing changed.
    let forged = post(
        &app,
        &format!("{base}/asset"),
        &s.cookie,
        &[("asset_id", server.as_str())],
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(ticket(&app, &t.admin, &id).await["asset_id"], pc.as_str());

    // Another asset of the client.
    let r = post(
        &app,
        &format!("{base}/asset"),
        &s.cookie,
        &[("csrf", &csrf), ("asset_id", &server)],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    assert_eq!(r.location(), base);
    assert_eq!(
        ticket(&app, &t.admin, &id).await["asset_id"],
        server.as_str()
    );
    let p = get(&app, &base, &s.cookie).await;
    let asset = element(&p, "dd", "asset");
    assert!(
        asset.contains("File server") && asset.contains("no warranty date"),
        "{asset}"
    );

    // Another tenant's asset: the API's refusal beside the form.
    let r = post(
        &app,
        &format!("{base}/asset"),
        &s.cookie,
        &[("csrf", &csrf), ("asset_id", &their_asset)],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.html);
    let form = element(&r, "form", "asset-form");
    assert!(form.contains("no such asset"), "{form}");
    assert!(form.contains("role=\"alert\""));
    assert_eq!(
        ticket(&app, &t.admin, &id).await["asset_id"],
        server.as_str()
    );

    // Linked to a project, shown with a link to its page, then unlinked.
    let r = post(
        &app,
        &format!("{base}/project"),
        &s.cookie,
        &[("csrf", &csrf), ("project_id", &move_project)],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    assert_eq!(
        ticket(&app, &t.admin, &id).await["project_id"],
        move_project.as_str()
    );
    let p = get(&app, &base, &s.cookie).await;
    let project = element(&p, "dd", "project");
    assert!(
        project.contains(&format!("href=\"/console/projects/{move_project}\""))
            && project.contains("Office move"),
        "{project}"
    );
    assert!(
        element(&p, "select", "project-select")
            .contains(&format!("value=\"{move_project}\" selected"))
    );
    let r = post(
        &app,
        &format!("{base}/project"),
        &s.cookie,
        &[("csrf", &csrf), ("project_id", "")],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    assert_eq!(ticket(&app, &t.admin, &id).await["project_id"], Value::Null);
    // And the asset to none.
    let r = post(
        &app,
        &format!("{base}/asset"),
        &s.cookie,
        &[("csrf", &csrf), ("asset_id", "")],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    assert_eq!(ticket(&app, &t.admin, &id).await["asset_id"], Value::Null);

    // Another tenant's ticket: 404 pages, for reading and for changing.
    let theirs = get(&app, &format!("/console/tickets/{their_ticket}"), &s.cookie).await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    assert!(!theirs.html.contains("Their outage"));
    let r = post(
        &app,
        &format!("/console/tickets/{their_ticket}/asset"),
        &s.cookie,
        &[("csrf", &csrf), ("asset_id", "")],
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.html);
    let r = post(
        &app,
        &format!("/console/tickets/{their_ticket}/project"),
        &s.cookie,
        &[("csrf", &csrf), ("project_id", &move_project)],
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.html);
    assert_eq!(
        ticket(&app, &other.admin, &their_ticket).await["project_id"],
        Value::Null
    );
}

/// The timer: started on the ticket (its description required), shown
/// running with how long and a stop button; a second timer of the same
/// user is the API's 409 beside the form; stopped, its minutes are in the
/// Time block; another tenant's entry cannot be stopped.
#[tokio::test]
async fn console_ticket_page_starts_and_stops_a_timer() {
    let app = TestApp::new().await;
    let t = app.tenant("Timer Desk").await;
    let other = app.tenant("Timer Other").await;
    let rate = app
        .patch(
            "/api/v1/company",
            &t.admin,
            json!({"settings": {"default_hourly_rate": "95.00"}}),
        )
        .await;
    assert_eq!(rate.status, StatusCode::OK, "{}", rate.body);
    let client = app.client(&t.admin, "Acme Timers").await;
    let id = created(
        &app,
        &t.admin,
        "/api/v1/tickets",
        json!({"subject": "VPN drops", "client_id": client}),
    )
    .await;
    let second = created(
        &app,
        &t.admin,
        "/api/v1/tickets",
        json!({"subject": "Mail bounces", "client_id": client}),
    )
    .await;
    let their_client = app.client(&other.admin, "Their Client").await;
    let their_ticket = created(
        &app,
        &other.admin,
        "/api/v1/tickets",
        json!({"subject": "Their outage", "client_id": their_client}),
    )
    .await;
    let their_timer = created(
        &app,
        &other.admin,
        "/api/v1/time-entries",
        json!({"ticket_id": their_ticket, "started_at": app.clock_now(),
               "description": "theirs", "billable": false}),
    )
    .await;

    let s = sign_in(&app, &admin_email("Timer Desk")).await;
    let base = format!("/console/tickets/{id}");
    let p = get(&app, &base, &s.cookie).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.html);
    assert!(p.has_id("timer-form") && p.has_id("start-timer"));
    assert!(!p.has_id("stop-timer") && !p.has_id("timer-running"));
    assert!(p.html.contains("for=\"timer-description\""));
    let csrf = p.csrf();

    let forged = post(
        &app,
        &format!("{base}/timer"),
        &s.cookie,
        &[("description", "Checking the tunnel")],
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    // Without a description: the API's 422, what was typed kept.
    let r = post(
        &app,
        &format!("{base}/timer"),
        &s.cookie,
        &[("csrf", &csrf), ("description", " "), ("billable", "true")],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.html);
    assert!(
        element(&r, "section", "timer").contains("description must not be empty"),
        "{}",
        r.html
    );

    let r = post(
        &app,
        &format!("{base}/timer"),
        &s.cookie,
        &[
            ("csrf", &csrf),
            ("description", "Checking the tunnel"),
            ("billable", "true"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    assert_eq!(r.location(), base);
    let running = app.get("/api/v1/time-entries?running=true", &t.admin).await;
    assert_eq!(running.body["data"].as_array().unwrap().len(), 1);
    let entry = running.body["data"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(running.body["data"][0]["ticket_id"], id.as_str());

    app.clock.advance(Duration::minutes(25));
    // Access tokens are short-lived: the API's readers sign in again.
    let admin = token(&app, &admin_email("Timer Desk")).await;
    let their_admin = token(&app, &admin_email("Timer Other")).await;
    let p = get(&app, &base, &s.cookie).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.html);
    let timer = element(&p, "p", "timer-running");
    assert!(
        timer.contains("Checking the tunnel") && timer.contains("25 min"),
        "{timer}"
    );
    assert!(
        timer.contains("<time class=\"elapsed\" datetime=\""),
        "{timer}"
    );
    assert!(p.has_id("stop-timer") && !p.has_id("timer-form"));
    assert!(
        p.html
            .contains(&format!("action=\"{base}/timer/{entry}/stop\""))
    );

    // A second start (another tab; another ticket): the API's 409 shown.
    let again = post(
        &app,
        &format!("{base}/timer"),
        &s.cookie,
        &[("csrf", &csrf), ("description", "Again")],
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.html);
    assert!(
        element(&again, "section", "timer")
            .contains("this user has a timer running already; stop it first")
    );
    let other_ticket = format!("/console/tickets/{second}");
    let p2 = get(&app, &other_ticket, &s.cookie).await;
    assert!(p2.has_id("timer-form"), "no timer of mine runs on this one");
    let r = post(
        &app,
        &format!("{other_ticket}/timer"),
        &s.cookie,
        &[("csrf", &csrf), ("description", "Mail queue")],
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.html);
    let section = element(&r, "section", "timer");
    assert!(section.contains("timer running already"), "{section}");
    assert!(section.contains("value=\"Mail queue\""), "{section}");

    // Another tenant's entry: not found, still running.
    let r = post(
        &app,
        &format!("{base}/timer/{their_timer}/stop"),
        &s.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.html);
    let theirs = app
        .get(&format!("/api/v1/time-entries/{their_timer}"), &their_admin)
        .await;
    assert_eq!(theirs.body["running"], true, "{}", theirs.body);

    // Stop without the token: refused; with it: stopped, in the Time block.
    let forged = post(&app, &format!("{base}/timer/{entry}/stop"), &s.cookie, &[]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let r = post(
        &app,
        &format!("{base}/timer/{entry}/stop"),
        &s.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    let stopped = app
        .get(&format!("/api/v1/time-entries/{entry}"), &admin)
        .await;
    assert_eq!(stopped.body["running"], false);
    assert_eq!(stopped.body["minutes"], 25);
    let p = get(&app, &base, &s.cookie).await;
    let row = element(&p, "tr", &format!("time-{entry}"));
    assert!(
        row.contains("25") && row.contains("Checking the tunnel"),
        "{row}"
    );
    assert!(p.has_id("timer-form") && !p.has_id("stop-timer"));
    // Stopping again: the API's 409 beside the timer.
    let r = post(
        &app,
        &format!("{base}/timer/{entry}/stop"),
        &s.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.html);
    assert!(element(&r, "section", "timer").contains("not running"));
}

/// SLA clocks in words by the app's clock: a due time ahead "due in",
/// one passed "overdue by" and "Breached", a met one "Met", none "no SLA";
/// the deadline in a `<time>` the script counts down, and the script
/// served with that code.
#[tokio::test]
async fn console_ticket_page_counts_down_the_sla() {
    let app = TestApp::new().await;
    let t = app.tenant("Clock Desk").await;
    let id = created(
        &app,
        &t.admin,
        "/api/v1/tickets",
        json!({"subject": "Server down"}),
    )
    .await;
    let plain = created(
        &app,
        &t.admin,
        "/api/v1/tickets",
        json!({"subject": "No policy here"}),
    )
    .await;
    let now = app.clock_now();
    let response_due = now + Duration::minutes(80);
    let resolution_due = now - Duration::minutes(35);
    sqlx::query(
        "UPDATE tickets SET sla_response_due = $2, sla_resolution_due = $3, \
         sla_response_state = 'ok', sla_resolution_state = 'breached', sla_state = 'breached' \
         WHERE id = $1",
    )
    .bind(uuid::Uuid::parse_str(&id).unwrap())
    .bind(response_due)
    .bind(resolution_due)
    .execute(&app.owner)
    .await
    .expect("set due times");

    let s = sign_in(&app, &admin_email("Clock Desk")).await;
    let base = format!("/console/tickets/{id}");
    let p = get(&app, &base, &s.cookie).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.html);
    let response = element(&p, "dd", "response-due");
    assert!(response.contains("due in 1 h 20 min"), "{response}");
    assert!(response.contains("On time"), "{response}");
    assert!(
        response.contains(&format!(
            "<time class=\"countdown\" datetime=\"{}\">",
            response_due.to_rfc3339()
        )),
        "{response}"
    );
    let resolution = element(&p, "dd", "resolution-due");
    assert!(resolution.contains("overdue by 35 min"), "{resolution}");
    assert!(
        resolution.contains("Breached") && resolution.contains("sla bad"),
        "{resolution}"
    );
    assert!(
        p.html
            .contains("<script src=\"/console/static/app.js\" defer></script>")
    );

    // Time passes: the page says so at the next load.
    app.clock.advance(Duration::minutes(90));
    let p = get(&app, &base, &s.cookie).await;
    let response = element(&p, "dd", "response-due");
    assert!(
        response.contains("overdue by 10 min") && response.contains("Breached"),
        "{response}"
    );

    // Answered before the due time: met.
    sqlx::query("UPDATE tickets SET first_response_at = $2 WHERE id = $1")
        .bind(uuid::Uuid::parse_str(&id).unwrap())
        .bind(now + Duration::minutes(5))
        .execute(&app.owner)
        .await
        .expect("set the first response");
    let p = get(&app, &base, &s.cookie).await;
    let response = element(&p, "dd", "response-due");
    assert!(response.contains("Met"), "{response}");
    assert!(!response.contains("countdown"), "{response}");

    let p = get(&app, &format!("/console/tickets/{plain}"), &s.cookie).await;
    assert!(element(&p, "dd", "response-due").contains("no SLA"));
    // Without a client there is no asset to offer; projects still are.
    assert!(!p.has_id("asset-form") && p.has_id("project-form"));

    // The script counts the clocks and the timer down.
    let js = get(&app, "/console/static/app.js", "").await;
    assert_eq!(js.status, StatusCode::OK);
    for marker in [
        "time.countdown[datetime]",
        "time.elapsed[datetime]",
        "overdue by ",
        "due in ",
        "30000",
    ] {
        assert!(js.html.contains(marker), "{marker}");
    }
}
