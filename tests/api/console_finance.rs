//! The console's finance pages beyond invoices: quotes (list by status and
//! client, a draft created, sent, accepted, declined, converted), recurring
//! templates (created, previewed, edited, paused, resumed), billing runs (a
//! dry run, a run started and its summary), and the invoice page's credit,
//! refund, duplicate and payment-link actions, each checked through the
//! JSON API; and the API's filters they read (quotes by status, invoices by
//! billing run).

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::json;

use crate::common::{TestApp, eventually};
use crate::console::{Page, admin_email, get, post, sign_in, user};

/// The finance sub-navigation is on the page, `current` marked.
fn has_finance_nav(p: &Page, current: &str) {
    for id in [
        "sub-invoices",
        "sub-quotes",
        "sub-recurring",
        "sub-billing-runs",
    ] {
        assert!(p.has_id(id), "{id} missing");
    }
    assert!(
        p.html.contains(&format!(
            "id=\"{current}\" href=\"/console/{}\" aria-current=\"page\"",
            current.trim_start_matches("sub-")
        )),
        "{current} not current"
    );
}

/// A form's fields as `post` takes them.
fn pairs<'a>(v: &'a [(&'a str, String)]) -> Vec<(&'a str, &'a str)> {
    v.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// A tech gets the API's 403 page for each of `paths`.
async fn tech_refused(app: &TestApp, admin: &str, paths: &[String]) {
    let (_, tech) = user(app, admin, "tech").await;
    let ts = sign_in(app, &tech).await;
    for path in paths {
        let r = get(app, path, &ts.cookie).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {}", r.html);
        assert!(r.title().starts_with("Not allowed"), "{path}");
    }
}

#[tokio::test]
async fn quotes_are_drafted_sent_accepted_declined_and_converted() {
    let app = TestApp::new().await;
    let t = app.tenant("Quotes MSP").await;
    let other = app.tenant("Other Quotes MSP").await;
    let client = app
        .billed_client(&t.admin, "Omega <Optics>", "ap@omega.example")
        .await;
    let their_client = app.client(&other.admin, "Their Quote Client").await;
    let theirs = app
        .post(
            "/api/v1/quotes",
            &other.admin,
            json!({"client_id": their_client, "lines": [{"description": "Secret work", "quantity": "1", "unit_price": "9"}]}),
        )
        .await;
    assert_eq!(theirs.status, StatusCode::CREATED, "{}", theirs.body);
    let theirs = theirs.id();
    let s = sign_in(&app, &admin_email("Quotes MSP")).await;

    // The new-quote form: a client picker, then the form.
    let picker = get(&app, "/console/quotes/new", &s.cookie).await;
    assert_eq!(picker.status, StatusCode::OK, "{}", picker.html);
    assert!(picker.html.contains("action=\"/console/quotes/new\""));
    assert!(
        picker
            .html
            .contains(&format!("<option value=\"{client}\">"))
    );
    assert!(!picker.html.contains("Their Quote Client"));
    let form = get(
        &app,
        &format!("/console/quotes/new?client_id={client}"),
        &s.cookie,
    )
    .await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.html);
    assert_eq!(form.title(), "New quote · Nestogy");
    has_finance_nav(&form, "sub-quotes");
    let csrf = form.csrf();
    let nope = get(
        &app,
        &format!("/console/quotes/new?client_id={their_client}"),
        &s.cookie,
    )
    .await;
    assert_eq!(nope.status, StatusCode::NOT_FOUND);

    let no_token = post(
        &app,
        "/console/quotes/new",
        &s.cookie,
        &[("client_id", &client), ("lines[0].description", "x")],
    )
    .await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    let bad = post(
        &app,
        "/console/quotes/new",
        &s.cookie,
        &[
            ("csrf", &csrf),
            ("client_id", &client),
            ("lines[0].description", "Rack <install>"),
            ("lines[0].quantity", "two"),
            ("lines[0].unit_price", "300"),
        ],
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.html);
    assert!(bad.has_id("new-quote-form"));
    assert!(bad.html.contains("value=\"two\""));
    assert!(bad.html.contains("Rack &lt;install&gt;"));
    assert!(bad.html.contains("role=\"alert\""));
    assert_eq!(
        app.get("/api/v1/quotes", &t.admin).await.body["total"],
        0,
        "nothing created"
    );
    let ok = post(
        &app,
        "/console/quotes/new",
        &s.cookie,
        &[
            ("csrf", &csrf),
            ("client_id", &client),
            ("valid_until", "2026-04-15"),
            ("lines[0].description", "Rack <install>"),
            ("lines[0].quantity", "2"),
            ("lines[0].unit_price", "300"),
            ("lines[1].description", "Cabling"),
            ("lines[1].quantity", "1"),
            ("lines[1].unit_price", "45.25"),
        ],
    )
    .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.html);
    let path = ok.location().trim_end_matches("?done=created").to_owned();
    let id = path.trim_start_matches("/console/quotes/").to_owned();
    let api_path = format!("/api/v1/quotes/{id}");
    let q = app.get(&api_path, &t.admin).await;
    assert_eq!(q.status, StatusCode::OK, "{}", q.body);
    assert_eq!(q.body["status"], "draft");
    assert_eq!(q.body["valid_until"], "2026-04-15");
    assert_eq!(q.body["total"], "645.25");

    // The quote page: the API's figures, in the company's locale.
    let page = get(&app, ok.location(), &s.cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert_eq!(page.title(), "Draft quote · Nestogy");
    assert!(page.has_id("done"));
    assert!(page.html.contains("Rack &lt;install&gt;"));
    assert!(page.html.contains("Omega &lt;Optics&gt;"));
    assert!(page.html.contains("id=\"total\">€645.25<"), "{}", page.html);
    assert!(page.html.contains("€600.00"));
    assert!(page.html.contains(&format!("href=\"{path}/pdf\"")));
    assert!(page.has_id("send"));
    assert!(!page.has_id("accept"));
    assert!(!page.has_id("convert"));
    has_finance_nav(&page, "sub-quotes");
    let pdf = get(&app, &format!("{path}/pdf"), &s.cookie).await;
    assert!(
        pdf.status == StatusCode::ACCEPTED || pdf.status == StatusCode::OK,
        "{}",
        pdf.status
    );

    // Another tenant's quote, a junk id: the 404 page; their quote unmoved.
    let r = get(&app, &format!("/console/quotes/{theirs}"), &s.cookie).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(!r.html.contains("Secret work"));
    assert_eq!(
        get(&app, "/console/quotes/42", &s.cookie).await.status,
        StatusCode::NOT_FOUND
    );
    let r = post(
        &app,
        &format!("/console/quotes/{theirs}/send"),
        &s.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get(&format!("/api/v1/quotes/{theirs}"), &other.admin)
            .await
            .body["status"],
        "draft"
    );

    // Every action refuses a POST without the token.
    for action in ["send", "accept", "decline", "convert"] {
        let r = post(&app, &format!("{path}/{action}"), &s.cookie, &[]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{action}");
    }
    assert_eq!(app.get(&api_path, &t.admin).await.body["status"], "draft");

    // Send: numbered, and mailed to the billing contact.
    let r = post(&app, &format!("{path}/send"), &s.cookie, &[("csrf", &csrf)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    assert_eq!(r.location(), format!("{path}?done=sent"));
    let q = app.get(&api_path, &t.admin).await.body;
    assert_eq!(q["status"], "sent");
    let number = q["number"].as_str().unwrap().to_owned();
    let page = get(&app, &path, &s.cookie).await;
    assert_eq!(page.title(), format!("Quote {number} · Nestogy"));
    for id in ["accept", "decline", "convert", "send"] {
        assert!(page.has_id(id), "{id}");
    }

    // A second quote, made and sent by API, declined in the console.
    let second = app
        .post(
            "/api/v1/quotes",
            &t.admin,
            json!({"client_id": client, "lines": [{"description": "Audit", "quantity": "1", "unit_price": "80"}]}),
        )
        .await
        .id();
    let third = app
        .post(
            "/api/v1/quotes",
            &t.admin,
            json!({"client_id": client, "lines": [{"description": "Spare draft", "quantity": "1", "unit_price": "5"}]}),
        )
        .await
        .id();
    let sent = app
        .post(
            &format!("/api/v1/quotes/{second}/send"),
            &t.admin,
            json!({}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.body);
    let r = post(
        &app,
        &format!("/console/quotes/{second}/decline"),
        &s.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    assert_eq!(
        app.get(&format!("/api/v1/quotes/{second}"), &t.admin)
            .await
            .body["status"],
        "declined"
    );
    // Converting a declined quote: the API's conflict as a page.
    let r = post(
        &app,
        &format!("/console/quotes/{second}/convert"),
        &s.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.html);
    assert!(r.has_id("problem"));

    // The list: filtered by status (the API's filter) and by client.
    let list = get(&app, "/console/quotes", &s.cookie).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.html);
    assert_eq!(list.title(), "Quotes · Nestogy");
    has_finance_nav(&list, "sub-quotes");
    for q in [&id, &second, &third] {
        assert!(list.has_id(&format!("quote-{q}")), "{q}");
    }
    assert!(!list.has_id(&format!("quote-{theirs}")));
    assert!(!list.html.contains("Their Quote Client"));
    let drafts = get(&app, "/console/quotes?status=draft", &s.cookie).await;
    assert!(drafts.has_id(&format!("quote-{third}")));
    assert!(!drafts.has_id(&format!("quote-{id}")));
    assert!(!drafts.has_id(&format!("quote-{second}")));
    let api = app.get("/api/v1/quotes?status=declined", &t.admin).await;
    assert_eq!(api.status, StatusCode::OK, "{}", api.body);
    assert_eq!(api.body["total"], 1);
    assert_eq!(api.body["data"][0]["id"], second.as_str());
    let bad = app.get("/api/v1/quotes?status=nonsense", &t.admin).await;
    assert!(bad.status.is_client_error(), "{}", bad.status);
    let by_client = get(
        &app,
        &format!("/console/quotes?client_id={client}&status=sent"),
        &s.cookie,
    )
    .await;
    assert!(by_client.has_id(&format!("quote-{id}")));
    assert!(!by_client.has_id(&format!("quote-{third}")));

    // Accept, then convert: the quote links to its new draft invoice.
    let r = post(
        &app,
        &format!("{path}/accept"),
        &s.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    assert_eq!(
        app.get(&api_path, &t.admin).await.body["status"],
        "accepted"
    );
    let r = post(
        &app,
        &format!("{path}/convert"),
        &s.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    let q = app.get(&api_path, &t.admin).await.body;
    assert_eq!(q["status"], "converted");
    let invoice = q["invoice_id"].as_str().unwrap().to_owned();
    let inv = app
        .get(&format!("/api/v1/invoices/{invoice}"), &t.admin)
        .await
        .body;
    assert_eq!(inv["status"], "draft");
    assert_eq!(inv["total"], "645.25");
    let page = get(&app, r.location(), &s.cookie).await;
    assert!(
        page.html.contains(&format!(
            "id=\"invoice-link\" href=\"/console/invoices/{invoice}\""
        )),
        "{}",
        page.html
    );
    assert!(!page.has_id("convert"));
    let page = get(&app, &format!("/console/invoices/{invoice}"), &s.cookie).await;
    assert!(
        page.html
            .contains(&format!("id=\"quote-link\" href=\"{path}\""))
    );

    tech_refused(
        &app,
        &t.admin,
        &["/console/quotes".to_owned(), path.clone()],
    )
    .await;
}

#[tokio::test]
async fn recurring_templates_are_created_previewed_edited_paused_and_resumed() {
    let app = TestApp::new().await;
    let t = app.tenant("Recurring Console MSP").await;
    let other = app.tenant("Other Recurring MSP").await;
    let client = app.client(&t.admin, "Sigma Systems").await;
    let their_client = app.client(&other.admin, "Their Recurring Client").await;
    let theirs = app
        .post(
            "/api/v1/recurring-invoices",
            &other.admin,
            json!({"client_id": their_client, "name": "Their secret plan", "frequency": {"unit": "months", "every": 1},
                   "start_date": "2026-01-01", "lines": [{"description": "X", "quantity": "1", "unit_price": "1"}]}),
        )
        .await;
    assert_eq!(theirs.status, StatusCode::CREATED, "{}", theirs.body);
    let theirs = theirs.id();
    let s = sign_in(&app, &admin_email("Recurring Console MSP")).await;

    let form = get(
        &app,
        &format!("/console/recurring/new?client_id={client}"),
        &s.cookie,
    )
    .await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.html);
    assert_eq!(form.title(), "New recurring invoice · Nestogy");
    has_finance_nav(&form, "sub-recurring");
    let csrf = form.csrf();
    let fields = |every: &str, csrf: Option<&str>| {
        let mut v = vec![
            ("client_id", client.clone()),
            ("name", "Managed <services>".to_owned()),
            ("unit", "months".to_owned()),
            ("every", every.to_owned()),
            ("start_date", "2026-01-31".to_owned()),
            ("due_days", "14".to_owned()),
            ("auto_finalize", "true".to_owned()),
            ("lines[0].description", "Monitoring".to_owned()),
            ("lines[0].quantity", "2".to_owned()),
            ("lines[0].unit_price", "50".to_owned()),
            ("lines[1].description", "Backup".to_owned()),
            ("lines[1].quantity", "1".to_owned()),
            ("lines[1].unit_price", "25.50".to_owned()),
        ];
        if let Some(c) = csrf {
            v.push(("csrf", c.to_owned()));
        }
        v
    };
    let body = fields("1", None);
    let no_token = post(&app, "/console/recurring/new", &s.cookie, &pairs(&body)).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    let body = fields("0", Some(&csrf));
    let bad = post(&app, "/console/recurring/new", &s.cookie, &pairs(&body)).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.html);
    assert!(bad.has_id("new-template-form"));
    assert!(bad.html.contains("Managed &lt;services&gt;"));
    assert!(bad.html.contains("id=\"field-problems\""), "{}", bad.html);
    assert!(bad.html.contains("frequency"));
    assert_eq!(
        app.get("/api/v1/recurring-invoices", &t.admin).await.body["total"],
        0,
        "nothing created"
    );
    let body = fields("1", Some(&csrf));
    let ok = post(&app, "/console/recurring/new", &s.cookie, &pairs(&body)).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.html);
    let path = ok.location().trim_end_matches("?done=created").to_owned();
    let id = path.trim_start_matches("/console/recurring/").to_owned();
    let api_path = format!("/api/v1/recurring-invoices/{id}");
    let tpl = app.get(&api_path, &t.admin).await;
    assert_eq!(tpl.status, StatusCode::OK, "{}", tpl.body);
    assert_eq!(tpl.body["name"], "Managed <services>");
    assert_eq!(tpl.body["frequency"], json!({"unit": "months", "every": 1}));
    assert_eq!(tpl.body["due_days"], 14);
    assert_eq!(tpl.body["auto_finalize"], true);
    assert_eq!(tpl.body["auto_send"], false);
    assert_eq!(tpl.body["lines"].as_array().unwrap().len(), 2);

    // The page: schedule, lines, and the preview's dates and totals as
    // the API priced them.
    let page = get(&app, ok.location(), &s.cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert_eq!(page.title(), "Managed &lt;services&gt; · Nestogy");
    has_finance_nav(&page, "sub-recurring");
    assert!(page.html.contains("Sigma Systems"));
    assert!(page.has_id("preview"));
    let preview = app
        .get(&format!("{api_path}/preview?count=6"), &t.admin)
        .await
        .body;
    let invoices = preview["invoices"].as_array().unwrap();
    assert_eq!(invoices.len(), 6);
    assert_eq!(invoices[0]["total"], "125.50");
    assert_eq!(invoices[1]["period_start"], "2026-02-28");
    for i in invoices {
        assert!(page.has_id(&format!("cycle-{}", i["cycle"])));
    }
    assert!(
        page.html.contains("Jan 31, 2026 – Feb 27, 2026"),
        "{}",
        page.html
    );
    assert!(page.html.contains("Feb 28, 2026"));
    assert!(page.html.contains("€125.50"));
    assert!(page.has_id("pause"));
    assert!(!page.has_id("resume"));

    // Another tenant's template: the 404 page, and it cannot be paused.
    let r = get(&app, &format!("/console/recurring/{theirs}"), &s.cookie).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(!r.html.contains("Their secret plan"));
    let r = post(
        &app,
        &format!("/console/recurring/{theirs}/pause"),
        &s.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get(
            &format!("/api/v1/recurring-invoices/{theirs}"),
            &other.admin
        )
        .await
        .body["status"],
        "active"
    );

    // Edit: a refused change re-rendered, then a saved one.
    let edit = |name: &str, every: &str, quantity: &str| {
        vec![
            ("csrf", csrf.clone()),
            ("name", name.to_owned()),
            ("unit", "months".to_owned()),
            ("every", every.to_owned()),
            ("due_days", "14".to_owned()),
            ("auto_finalize", "true".to_owned()),
            ("lines[0].description", "Monitoring".to_owned()),
            ("lines[0].quantity", quantity.to_owned()),
            ("lines[0].unit_price", "50".to_owned()),
            ("lines[1].description", "Backup".to_owned()),
            ("lines[1].quantity", "1".to_owned()),
            ("lines[1].unit_price", "25.5".to_owned()),
        ]
    };
    let body = edit("Renamed plan", "many", "3");
    let r = post(&app, &path, &s.cookie, &pairs(&body)[1..]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let bad = post(&app, &path, &s.cookie, &pairs(&body)).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.html);
    assert!(bad.has_id("edit-template"));
    assert!(bad.html.contains("value=\"many\""));
    assert!(bad.html.contains("value=\"Renamed plan\""));
    assert_eq!(
        app.get(&api_path, &t.admin).await.body["name"],
        "Managed <services>"
    );
    let body = edit("Renamed plan", "1", "3");
    let r = post(&app, &path, &s.cookie, &pairs(&body)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    let tpl = app.get(&api_path, &t.admin).await.body;
    assert_eq!(tpl["name"], "Renamed plan");
    assert_eq!(tpl["lines"][0]["quantity"], "3");
    assert_eq!(tpl["lines"][1]["description"], "Backup");
    let preview = app
        .get(&format!("{api_path}/preview?count=1"), &t.admin)
        .await
        .body;
    assert_eq!(preview["invoices"][0]["total"], "175.50");
    let page = get(&app, r.location(), &s.cookie).await;
    assert!(page.html.contains("€175.50"));

    // Pause and resume.
    let r = post(&app, &format!("{path}/pause"), &s.cookie, &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = post(
        &app,
        &format!("{path}/pause"),
        &s.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    assert_eq!(app.get(&api_path, &t.admin).await.body["status"], "paused");
    let page = get(&app, r.location(), &s.cookie).await;
    assert!(page.has_id("resume"));
    assert!(!page.has_id("pause"));
    let r = post(
        &app,
        &format!("{path}/resume"),
        &s.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    assert_eq!(app.get(&api_path, &t.admin).await.body["status"], "active");

    // The list: this tenant's templates only.
    let list = get(&app, "/console/recurring", &s.cookie).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.html);
    assert_eq!(list.title(), "Recurring invoices · Nestogy");
    assert!(list.has_id(&format!("template-{id}")));
    assert!(!list.has_id(&format!("template-{theirs}")));
    assert!(list.html.contains("Renamed plan"));
    assert!(list.html.contains("every month"));
    assert!(!list.html.contains("Their secret plan"));

    tech_refused(
        &app,
        &t.admin,
        &["/console/recurring".to_owned(), path.clone()],
    )
    .await;
}

#[tokio::test]
async fn a_billing_run_is_previewed_started_and_summarized() {
    let app = TestApp::new().await;
    let t = app.tenant("Runs MSP").await;
    let other = app.tenant("Other Runs MSP").await;
    let client = app.client(&t.admin, "Tau Trading").await;
    let tpl = app
        .post(
            "/api/v1/recurring-invoices",
            &t.admin,
            json!({"client_id": client, "name": "Support plan", "frequency": {"unit": "months", "every": 1},
                   "start_date": "2025-12-31", "lines": [{"description": "Support", "quantity": "1", "unit_price": "100.00"}]}),
        )
        .await;
    assert_eq!(tpl.status, StatusCode::CREATED, "{}", tpl.body);
    let tpl = tpl.id();
    // An invoice made by hand: no run's.
    let manual = app.open_invoice(&t.admin, &client, "By hand").await;
    let their_run = app
        .post(
            "/api/v1/billing-runs",
            &other.admin,
            json!({"as_of": "2026-03-01"}),
        )
        .await;
    assert_eq!(their_run.status, StatusCode::ACCEPTED, "{}", their_run.body);
    let their_run = their_run.id();
    let s = sign_in(&app, &admin_email("Runs MSP")).await;

    let list = get(&app, "/console/billing-runs", &s.cookie).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.html);
    assert_eq!(list.title(), "Billing runs · Nestogy");
    has_finance_nav(&list, "sub-billing-runs");
    assert!(list.has_id("start-billing-run"));
    assert!(!list.has_id(&format!("run-{their_run}")));
    let csrf = list.csrf();

    // The dry run: three periods behind, nothing billed.
    let dry = get(
        &app,
        "/console/billing-runs/preview?as_of=2026-03-01",
        &s.cookie,
    )
    .await;
    assert_eq!(dry.status, StatusCode::OK, "{}", dry.html);
    assert!(dry.has_id("dry-run-periods"));
    assert!(
        dry.html.contains("id=\"dry-run-templates\">1<"),
        "{}",
        dry.html
    );
    assert!(dry.html.contains("id=\"dry-run-count\">3<"), "{}", dry.html);
    assert!(dry.html.contains("Dec 31, 2025"));
    assert!(dry.html.contains("Feb 28, 2026"));
    assert!(dry.html.contains("€100.00"));
    assert!(
        dry.html
            .contains(&format!("href=\"/console/recurring/{tpl}\""))
    );
    assert!(dry.has_id("start-billing-run"));
    assert_eq!(
        app.get("/api/v1/invoices", &t.admin).await.body["total"],
        1,
        "a dry run bills nothing"
    );
    let bad_dry = get(
        &app,
        "/console/billing-runs/preview?as_of=someday",
        &s.cookie,
    )
    .await;
    assert_eq!(
        bad_dry.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        bad_dry.html
    );

    // Starting: the token, the API's 422, then a run.
    let r = post(
        &app,
        "/console/billing-runs",
        &s.cookie,
        &[("as_of", "2026-03-01")],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let bad = post(
        &app,
        "/console/billing-runs",
        &s.cookie,
        &[("csrf", &csrf), ("as_of", "2026-02-30")],
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.html);
    assert!(bad.has_id("start-billing-run"));
    assert!(bad.html.contains("value=\"2026-02-30\""));
    assert!(bad.html.contains("role=\"alert\""));
    assert_eq!(
        app.get("/api/v1/billing-runs", &t.admin).await.body["total"],
        0
    );
    let r = post(
        &app,
        "/console/billing-runs",
        &s.cookie,
        &[("csrf", &csrf), ("as_of", "2026-03-01")],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    let path = r.location().to_owned();
    let run = path.trim_start_matches("/console/billing-runs/").to_owned();
    let api_run = format!("/api/v1/billing-runs/{run}");
    assert_eq!(app.get(&api_run, &t.admin).await.status, StatusCode::OK);
    // Before a worker takes it: pending, and the page reloads itself.
    let page = get(&app, &path, &s.cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.html.contains("(pending)"), "{}", page.html);
    assert!(page.has_id("run-live"));
    assert!(page.has_id("run-periods"));
    assert!(page.has_id("no-periods"));
    assert_eq!(page.headers["refresh"], "2");

    let worker = app.start_worker();
    eventually("the run to finish", Duration::from_secs(30), || async {
        let state = app.get(&api_run, &t.admin).await.body["state"].clone();
        state == "succeeded" || state == "failed" || state == "completed_with_failures"
    })
    .await;
    worker.stop().await;
    let summary = app.get(&api_run, &t.admin).await.body;
    assert_eq!(summary["state"], "succeeded", "{summary}");
    assert_eq!(summary["invoices_created"], 3);

    // The API's invoices of the run: its three, not the one made by hand,
    // and none for another tenant's run.
    let of_run = app
        .get(&format!("/api/v1/invoices?billing_run_id={run}"), &t.admin)
        .await;
    assert_eq!(of_run.status, StatusCode::OK, "{}", of_run.body);
    assert_eq!(of_run.body["total"], 3);
    let created: Vec<&serde_json::Value> = of_run.body["data"].as_array().unwrap().iter().collect();
    assert!(created.iter().all(|i| i["id"] != manual.as_str()));
    assert!(created.iter().all(|i| i["billing_run_id"] == run.as_str()));
    let theirs = app
        .get(
            &format!("/api/v1/invoices?billing_run_id={their_run}"),
            &t.admin,
        )
        .await;
    assert_eq!(theirs.body["total"], 0);

    // The summary page: every period with its invoice and total.
    let page = get(&app, &path, &s.cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.html.contains("(succeeded)"));
    assert!(!page.headers.contains_key("refresh"));
    assert!(page.has_id("run-periods"));
    assert!(page.html.contains("id=\"run-created\">3<"));
    for i in &created {
        assert!(page.has_id(&format!("period-{}", i["id"].as_str().unwrap())));
        assert!(page.html.contains(i["number"].as_str().unwrap()));
    }
    assert!(!page.html.contains(&format!("/console/invoices/{manual}")));
    assert_eq!(page.html.matches("€100.00").count(), 3, "{}", page.html);
    assert!(page.html.contains("Support plan"));
    assert!(page.html.contains("Jan 31, 2026 – Feb 27, 2026"));
    // Each invoice names its template and its run.
    let one = created[0]["id"].as_str().unwrap();
    let inv = get(&app, &format!("/console/invoices/{one}"), &s.cookie).await;
    assert!(
        inv.html
            .contains(&format!("id=\"run-link\" href=\"{path}\""))
    );
    assert!(inv.html.contains(&format!(
        "id=\"template-link\" href=\"/console/recurring/{tpl}\""
    )));

    let list = get(&app, "/console/billing-runs", &s.cookie).await;
    assert!(list.has_id(&format!("run-{run}")));
    let r = get(
        &app,
        &format!("/console/billing-runs/{their_run}"),
        &s.cookie,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        get(&app, "/console/billing-runs/nope", &s.cookie)
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    tech_refused(
        &app,
        &t.admin,
        &["/console/billing-runs".to_owned(), path.clone()],
    )
    .await;
    // An accountant works here.
    let (_, acc) = user(&app, &t.admin, "accountant").await;
    let acs = sign_in(&app, &acc).await;
    for p in [
        "/console/billing-runs",
        path.as_str(),
        "/console/quotes",
        "/console/recurring",
    ] {
        let r = get(&app, p, &acs.cookie).await;
        assert_eq!(r.status, StatusCode::OK, "{p}: {}", r.html);
        assert!(r.html.contains("id=\"nav-finance\""), "{p}");
    }
}

#[tokio::test]
async fn the_invoice_page_applies_credit_refunds_duplicates_and_links_payment() {
    let app = TestApp::new().await;
    let t = app.tenant("Credit MSP").await;
    let other = app.tenant("Other Credit MSP").await;
    let client = app
        .billed_client(&t.admin, "Upsilon Utilities", "ap@upsilon.example")
        .await;
    // 361.50 due; 400 paid: 38.50 becomes credit.
    let paid = app.open_invoice(&t.admin, &client, "Hosting").await;
    let r = app
        .post(
            &format!("/api/v1/invoices/{paid}/payments"),
            &t.admin,
            json!({"amount": "400.00", "method": "bank_transfer"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let payment = r.body["payment"]["id"].as_str().unwrap().to_owned();
    let open = app.open_invoice(&t.admin, &client, "Support").await;
    let their_client = app.client(&other.admin, "Their Credit Client").await;
    let their_invoice = app
        .open_invoice(&other.admin, &their_client, "Theirs")
        .await;
    let their_payment = app
        .post(
            &format!("/api/v1/invoices/{their_invoice}/payments"),
            &other.admin,
            json!({"amount": "10.00", "method": "cash"}),
        )
        .await
        .body["payment"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let s = sign_in(&app, &admin_email("Credit MSP")).await;

    // Apply credit.
    let path = format!("/console/invoices/{open}");
    let page = get(&app, &path, &s.cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    has_finance_nav(&page, "sub-invoices");
    assert!(page.has_id("apply-credit"));
    assert!(
        page.html.contains("The client has €38.50 of credit."),
        "{}",
        page.html
    );
    assert!(page.has_id("duplicate"));
    // No Stripe keys yet: the page says so instead of offering a link.
    assert!(page.has_id("stripe-missing") && !page.has_id("create-payment-link"));
    let csrf = page.csrf();
    for action in ["apply-credit", "duplicate", "payment-link"] {
        let r = post(&app, &format!("{path}/{action}"), &s.cookie, &[]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{action}");
    }
    let bad = post(
        &app,
        &format!("{path}/apply-credit"),
        &s.cookie,
        &[("csrf", &csrf), ("amount", "-3")],
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.html);
    assert!(bad.has_id("apply-credit"));
    assert!(bad.html.contains("value=\"-3\""));
    assert!(bad.html.contains("role=\"alert\""));
    let r = post(
        &app,
        &format!("{path}/apply-credit"),
        &s.cookie,
        &[("csrf", &csrf), ("amount", "")],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    assert_eq!(r.location(), format!("{path}?done=credited"));
    let inv = app
        .get(&format!("/api/v1/invoices/{open}"), &t.admin)
        .await
        .body;
    assert_eq!(inv["balance"], "323.00");
    let page = get(&app, &path, &s.cookie).await;
    assert!(page.html.contains("id=\"balance\">€323.00<"));
    assert!(!page.has_id("apply-credit"), "no credit left");

    // Refund part of the first invoice's payment.
    let paid_path = format!("/console/invoices/{paid}");
    let page = get(&app, &paid_path, &s.cookie).await;
    let form_id = format!("refund-{payment}");
    assert!(page.has_id(&form_id), "{}", page.html);
    let refund_path = format!("{paid_path}/payments/{payment}/refund");
    let r = post(&app, &refund_path, &s.cookie, &[("amount", "50")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let bad = post(
        &app,
        &refund_path,
        &s.cookie,
        &[("csrf", &csrf), ("amount", "0"), ("reference", "RF-0")],
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.html);
    assert!(bad.html.contains("value=\"RF-0\""));
    assert!(
        bad.html.contains(&format!(
            "<details open><summary>Refund</summary><form class=\"stack\" id=\"{form_id}\""
        )),
        "{}",
        bad.html
    );
    let r = post(
        &app,
        &refund_path,
        &s.cookie,
        &[
            ("csrf", &csrf),
            ("amount", "50"),
            ("paid_on", "2026-03-01"),
            ("reference", "RF-1"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    assert_eq!(r.location(), format!("{paid_path}?done=refunded"));
    let inv = app
        .get(&format!("/api/v1/invoices/{paid}"), &t.admin)
        .await
        .body;
    assert_eq!(inv["balance"], "50.00");
    let pays = app
        .get(&format!("/api/v1/payments?invoice_id={paid}"), &t.admin)
        .await
        .body;
    let refund = pays["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == "refund")
        .expect("a refund");
    assert_eq!(refund["reference"], "RF-1");
    let page = get(&app, r.location(), &s.cookie).await;
    assert!(page.has_id(&format!("payment-{}", refund["id"].as_str().unwrap())));
    // Another tenant's payment: not found, not refunded.
    let r = post(
        &app,
        &format!("{paid_path}/payments/{their_payment}/refund"),
        &s.cookie,
        &[("csrf", &csrf), ("amount", "1")],
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let theirs = app
        .get(
            &format!("/api/v1/payments?invoice_id={their_invoice}"),
            &other.admin,
        )
        .await
        .body;
    assert_eq!(theirs["total"], 1);

    // Duplicate: a new draft with the same lines.
    let r = post(
        &app,
        &format!("{paid_path}/duplicate"),
        &s.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    let copy = r
        .location()
        .trim_start_matches("/console/invoices/")
        .to_owned();
    assert_ne!(copy, paid);
    let page = get(&app, r.location(), &s.cookie).await;
    assert!(page.html.contains(&format!(
        "id=\"original-link\" href=\"/console/invoices/{paid}\""
    )));
    let dup = app
        .get(&format!("/api/v1/invoices/{copy}"), &t.admin)
        .await
        .body;
    assert_eq!(dup["status"], "draft");
    assert_eq!(dup["duplicated_from"], paid.as_str());
    assert_eq!(dup["total"], "361.50");
    let r = post(
        &app,
        &format!("/console/invoices/{their_invoice}/duplicate"),
        &s.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // The payment link: without Stripe the page says so instead of the
    // button, and a post is refused; then created (pending until the job
    // reaches Stripe) and shown.
    let page = get(&app, &path, &s.cookie).await;
    assert!(
        page.has_id("stripe-missing") && !page.has_id("create-payment-link"),
        "{}",
        page.html
    );
    let r = post(
        &app,
        &format!("{path}/payment-link"),
        &s.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.html);
    assert!(r.html.contains("Stripe"), "{}", r.html);
    let stripe = app
        .call(
            axum::http::Method::PUT,
            "/api/v1/company/stripe",
            Some(&t.admin),
            Some(json!({"secret_key": "sk_test_console123", "webhook_secret": "whsec_console123"})),
        )
        .await;
    assert_eq!(stripe.status, StatusCode::OK, "{}", stripe.body);
    let page = get(&app, &path, &s.cookie).await;
    assert!(
        page.has_id("create-payment-link") && !page.has_id("stripe-missing"),
        "{}",
        page.html
    );
    let r = post(
        &app,
        &format!("{path}/payment-link"),
        &s.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    let link = app
        .get(&format!("/api/v1/invoices/{open}/payment-link"), &t.admin)
        .await;
    assert_eq!(link.status, StatusCode::OK, "{}", link.body);
    assert_eq!(link.body["amount"], "323.00");
    let page = get(&app, &path, &s.cookie).await;
    assert!(
        page.html.contains(&format!(
            "id=\"payment-link-status\">{}<",
            link.body["status"].as_str().unwrap()
        )),
        "{}",
        page.html
    );
    assert!(page.html.contains("€323.00"));
}
