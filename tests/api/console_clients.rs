//! The console's client pages: the list (search, archive filter, cursor
//! pages), the new-client form, a client's page with its edit, contact and
//! location forms, its tickets and, for billing roles, invoices, payments,
//! credit, statement and the statement PDF; every form's CSRF token and
//! every action's effect through the API.

use axum::http::StatusCode;
use serde_json::json;

use crate::common::TestApp;
use crate::console::{Page, admin_email, get, post, sign_in, user};

/// The whole form of `id` on `page`: its fields must include the CSRF token.
fn assert_form_has_csrf(page: &Page, id: &str) {
    let at = page
        .html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no form {id} in {}", page.html));
    let rest = &page.html[at..];
    let form = &rest[..rest.find("</form>").expect("end of form")];
    assert!(
        form.contains("name=\"csrf\" value=\""),
        "form {id} has no CSRF token: {form}"
    );
}

#[tokio::test]
async fn client_list_searches_pages_and_creates_clients() {
    let app = TestApp::new().await;
    let t = app.tenant("Clients MSP").await;
    let other = app.tenant("Other Clients MSP").await;
    for name in ["Alpha <Labs>", "Beta Bakery", "Gamma Garage"] {
        app.client(&t.admin, name).await;
    }
    let theirs = app.client(&other.admin, "Secret Rival Corp").await;
    let s = sign_in(&app, &admin_email("Clients MSP")).await;

    let list = get(&app, "/console/clients", &s.cookie).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.html);
    assert_eq!(list.title(), "Clients · Nestogy");
    assert!(list.html.contains("Alpha &lt;Labs&gt;"));
    assert!(list.html.contains("Beta Bakery"));
    assert!(!list.html.contains("Secret Rival Corp"));
    assert!(!list.html.contains(&theirs));
    assert!(list.html.contains("aria-current=\"page\">Clients"));

    // Search goes to the API's q.
    let found = get(&app, "/console/clients?q=bakery", &s.cookie).await;
    assert_eq!(found.status, StatusCode::OK);
    assert!(found.html.contains("Beta Bakery"));
    assert!(!found.html.contains("Gamma Garage"));
    assert!(found.html.contains(">1 clients<"), "{}", found.html);

    // Cursor pages: two rows a page would need the API's limit; the
    // console asks 50 a page, so make 51 and follow "Next page".
    for i in 0..49 {
        app.client(&t.admin, &format!("Zeta {i:02}")).await;
    }
    let first = get(&app, "/console/clients", &s.cookie).await;
    assert!(first.has_id("next-page"), "52 clients, 50 a page");
    assert!(!first.html.contains("Zeta 48"));
    let key = "id=\"next-page\" href=\"";
    let at = first.html.find(key).unwrap() + key.len();
    let href = first.html[at..first.html[at..].find('"').unwrap() + at].replace("&amp;", "&");
    let second = get(&app, &href, &s.cookie).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.html);
    assert!(second.html.contains("Zeta 48"), "{}", second.html);
    assert!(!second.has_id("next-page"));

    // Archived clients only with the filter.
    let gamma = app.get("/api/v1/clients?q=gamma", &t.admin).await.body["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .post(
            &format!("/api/v1/clients/{gamma}/archive"),
            &t.admin,
            json!({}),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.body);
    let active = get(&app, "/console/clients?q=gamma", &s.cookie).await;
    assert!(!active.html.contains("Gamma Garage"));
    let archived = get(&app, "/console/clients?q=gamma&status=archived", &s.cookie).await;
    assert!(archived.html.contains("Gamma Garage"));

    // New client: the form, a refusal re-rendered, then created.
    let form = get(&app, "/console/clients/new", &s.cookie).await;
    assert_eq!(form.status, StatusCode::OK);
    assert_eq!(form.title(), "New client · Nestogy");
    assert_form_has_csrf(&form, "new-client-form");
    let csrf = form.csrf();
    let no_token = post(
        &app,
        "/console/clients/new",
        &s.cookie,
        &[("name", "Sneaky")],
    )
    .await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    let bad = post(
        &app,
        "/console/clients/new",
        &s.cookie,
        &[
            ("csrf", &csrf),
            ("name", "Delta Dental"),
            ("email", "not-an-email"),
        ],
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.html);
    assert!(bad.has_id("new-client-form"));
    assert!(
        bad.html.contains("value=\"Delta Dental\""),
        "kept what was typed"
    );
    assert!(bad.html.contains("class=\"field-problem\""), "{}", bad.html);
    let ok = post(
        &app,
        "/console/clients/new",
        &s.cookie,
        &[
            ("csrf", &csrf),
            ("name", "Delta Dental"),
            ("email", "office@delta.example"),
            ("hourly_rate", "95"),
            ("email_domains", "delta.example, delta-dental.example"),
            ("city", "Berlin"),
            ("country", "DE"),
        ],
    )
    .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.html);
    let id = ok
        .location()
        .trim_start_matches("/console/clients/")
        .to_owned();
    let made = app.get(&format!("/api/v1/clients/{id}"), &t.admin).await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    assert_eq!(made.body["name"], "Delta Dental");
    assert_eq!(made.body["email"], "office@delta.example");
    assert_eq!(made.body["billing_address"]["city"], "Berlin");
    assert_eq!(
        made.body["email_domains"],
        json!(["delta.example", "delta-dental.example"])
    );
    assert!(made.body["phone"].is_null());
    assert_eq!(
        made.body["hourly_rate"]
            .as_str()
            .unwrap()
            .parse::<f64>()
            .unwrap(),
        95.0
    );

    // An accountant may read clients but not create them: the API's 403
    // as a page.
    let (_, accountant) = user(&app, &t.admin, "accountant").await;
    let ts = sign_in(&app, &accountant).await;
    let seen = get(&app, "/console/clients", &ts.cookie).await;
    assert_eq!(seen.status, StatusCode::OK);
    let tform = get(&app, "/console/clients/new", &ts.cookie).await;
    let refused = post(
        &app,
        "/console/clients/new",
        &ts.cookie,
        &[("csrf", &tform.csrf()), ("name", "By an accountant")],
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.html);
    assert!(refused.title().starts_with("Not allowed"));
    let none = app
        .get("/api/v1/clients?q=by+an+accountant", &t.admin)
        .await;
    assert_eq!(none.body["total"], 0);
}

#[tokio::test]
async fn client_page_shows_and_changes_the_client() {
    let app = TestApp::new().await;
    let t = app.tenant("Client Page MSP").await;
    let other = app.tenant("Other Page MSP").await;
    let client = app
        .billed_client(&t.admin, "Omega <Optics>", "ap@omega.example")
        .await;
    let theirs = app.client(&other.admin, "Their Client").await;
    let ticket = app
        .post(
            "/api/v1/tickets",
            &t.admin,
            json!({"subject": "Scanner jammed", "description": "x", "client_id": client}),
        )
        .await;
    assert_eq!(ticket.status, StatusCode::CREATED, "{}", ticket.body);
    let invoice = app.open_invoice(&t.admin, &client, "Managed backup").await;
    let paid = app
        .post(
            &format!("/api/v1/invoices/{invoice}/payments"),
            &t.admin,
            json!({"amount": "100.00", "method": "bank_transfer", "paid_on": "2026-03-01"}),
        )
        .await;
    assert_eq!(paid.status, StatusCode::CREATED, "{}", paid.body);
    let s = sign_in(&app, &admin_email("Client Page MSP")).await;
    let path = format!("/console/clients/{client}");

    let page = get(&app, &path, &s.cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert_eq!(page.title(), "Omega &lt;Optics&gt; · Nestogy");
    assert!(
        page.html.contains("ap@omega.example"),
        "the billing contact"
    );
    assert!(page.has_id(&format!("ticket-{}", ticket.id())));
    assert!(page.has_id(&format!("invoice-{invoice}")));
    assert!(
        page.html
            .contains(&format!("href=\"/console/invoices/{invoice}\""))
    );
    // 3 × 120.50 = 361.50 EUR, 100 paid: the company's locale writes it.
    assert!(page.html.contains("€361.50"), "the total");
    assert!(page.html.contains("€261.50"), "the balance");
    let inv = app
        .get(&format!("/api/v1/invoices/{invoice}"), &t.admin)
        .await;
    let number = inv.body["number"].as_str().unwrap().to_owned();
    assert!(page.html.contains(&number));
    assert!(page.has_id(&format!(
        "payment-{}",
        paid.body["payment"]["id"].as_str().unwrap()
    )));
    assert!(page.has_id("closing-balance"));
    assert!(page.has_id("statement-pdf"));
    for form in ["edit-client", "add-contact", "add-location"] {
        assert_form_has_csrf(&page, form);
    }
    assert!(!page.html.contains("Their Client"));

    // Another tenant's client, and an id that is no id: the 404 page.
    let nope = get(&app, &format!("/console/clients/{theirs}"), &s.cookie).await;
    assert_eq!(nope.status, StatusCode::NOT_FOUND, "{}", nope.html);
    assert!(nope.title().starts_with("Not found"));
    assert!(!nope.html.contains("Their Client"));
    let junk = get(&app, "/console/clients/not-an-id", &s.cookie).await;
    assert_eq!(junk.status, StatusCode::NOT_FOUND);
    let csrf = page.csrf();
    let theirs_post = post(
        &app,
        &format!("/console/clients/{theirs}/contacts"),
        &s.cookie,
        &[("csrf", &csrf), ("name", "Intruder")],
    )
    .await;
    assert_eq!(theirs_post.status, StatusCode::NOT_FOUND);

    // Edit: without a token refused; a bad e-mail re-rendered; then saved.
    let no_token = post(&app, &path, &s.cookie, &[("name", "Renamed")]).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    let bad = post(
        &app,
        &path,
        &s.cookie,
        &[
            ("csrf", &csrf),
            ("name", "Omega Renamed"),
            ("email", "nope"),
        ],
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.html);
    assert!(bad.html.contains("value=\"Omega Renamed\""));
    assert!(bad.html.contains("class=\"field-problem\""), "{}", bad.html);
    let saved = post(
        &app,
        &path,
        &s.cookie,
        &[
            ("csrf", &csrf),
            ("name", "Omega Renamed"),
            ("phone", "+49 30 1234"),
            ("notes", "Key under the mat"),
        ],
    )
    .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    assert_eq!(saved.location(), path);
    let now = app
        .get(&format!("/api/v1/clients/{client}"), &t.admin)
        .await;
    assert_eq!(now.body["name"], "Omega Renamed");
    assert_eq!(now.body["phone"], "+49 30 1234");
    assert_eq!(now.body["notes"], "Key under the mat");

    // A contact: refused without a name, then added.
    let no_token = post(
        &app,
        &format!("{path}/contacts"),
        &s.cookie,
        &[("name", "X")],
    )
    .await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    let bad = post(
        &app,
        &format!("{path}/contacts"),
        &s.cookie,
        &[
            ("csrf", &csrf),
            ("name", ""),
            ("email", "kim@omega.example"),
        ],
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.html);
    assert!(bad.html.contains("value=\"kim@omega.example\""));
    let added = post(
        &app,
        &format!("{path}/contacts"),
        &s.cookie,
        &[
            ("csrf", &csrf),
            ("name", "Kim Park"),
            ("email", "kim@omega.example"),
            ("title", "Office manager"),
            ("is_primary", "true"),
        ],
    )
    .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.html);
    let contacts = app
        .get(
            &format!("/api/v1/clients/{client}/contacts?q=kim"),
            &t.admin,
        )
        .await;
    assert_eq!(contacts.body["total"], 1, "{}", contacts.body);
    assert_eq!(contacts.body["data"][0]["is_primary"], true);
    assert_eq!(contacts.body["data"][0]["title"], "Office manager");

    // A location.
    let no_token = post(
        &app,
        &format!("{path}/locations"),
        &s.cookie,
        &[("name", "X")],
    )
    .await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    let added = post(
        &app,
        &format!("{path}/locations"),
        &s.cookie,
        &[
            ("csrf", &csrf),
            ("name", "Head office"),
            ("line1", "Hauptstraße 1"),
            ("city", "Berlin"),
            ("country", "DE"),
        ],
    )
    .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.html);
    let locations = app
        .get(&format!("/api/v1/clients/{client}/locations"), &t.admin)
        .await;
    assert_eq!(locations.body["total"], 1, "{}", locations.body);
    assert_eq!(locations.body["data"][0]["address"]["city"], "Berlin");
    let page = get(&app, &path, &s.cookie).await;
    assert!(page.html.contains("Kim Park"));
    assert!(page.html.contains("Hauptstraße 1, Berlin, DE"));

    // A tech sees the client and its tickets, not its money.
    let (_, tech) = user(&app, &t.admin, "tech").await;
    let ts = sign_in(&app, &tech).await;
    let as_tech = get(&app, &path, &ts.cookie).await;
    assert_eq!(as_tech.status, StatusCode::OK, "{}", as_tech.html);
    assert!(as_tech.has_id(&format!("ticket-{}", ticket.id())));
    assert!(!as_tech.has_id("invoices"));
    assert!(!as_tech.has_id("payments"));
    assert!(!as_tech.has_id("statement-pdf"));
    let pdf = get(&app, &format!("{path}/statement.pdf"), &ts.cookie).await;
    assert_eq!(pdf.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_statement_pdf_comes_through_the_console() {
    let app = TestApp::new().await;
    let t = app.tenant("Statement MSP").await;
    let client = app
        .billed_client(&t.admin, "Sigma Systems", "ap@sigma.example")
        .await;
    app.open_invoice(&t.admin, &client, "Support").await;
    let s = sign_in(&app, &admin_email("Statement MSP")).await;
    let path = format!("/console/clients/{client}/statement.pdf");

    // Not rendered yet: a page saying so.
    let first = get(&app, &path, &s.cookie).await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.html);
    assert!(first.has_id("rendering"));

    let _worker = app.start_worker();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let pdf = loop {
        let r = get(&app, &path, &s.cookie).await;
        if r.status == StatusCode::OK {
            break r;
        }
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.html);
        assert!(std::time::Instant::now() < deadline, "not rendered in 30 s");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(pdf.headers["content-type"], "application/pdf");
    assert!(pdf.html.starts_with("%PDF-"));
}
