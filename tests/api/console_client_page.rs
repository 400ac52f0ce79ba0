//! The client page's networks (with add, edit and delete), assets and
//! quotes blocks, by role and tenant; and the one client picker of the
//! console's forms: a plain select up to 200 clients, a search past that
//! (by "Find" and by `/console/clients/options`), the chosen client kept
//! through a refused form.

use axum::http::StatusCode;
use serde_json::json;

use crate::common::{PASSWORD, TestApp};
use crate::console::{Page, admin_email, get, post, sign_in, user};
use crate::webdriver::Browser;

/// The markup of the element `id` on `page` up to the end of `tag`.
fn element<'a>(page: &'a Page, id: &str, tag: &str) -> &'a str {
    let at = page
        .html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no {id} in {}", page.html));
    let rest = &page.html[at..];
    let end = format!("</{tag}>");
    &rest[..rest.find(&end).expect("end of element")]
}

fn assert_form_has_csrf(page: &Page, id: &str) {
    let form = element(page, id, "form");
    assert!(
        form.contains("name=\"csrf\" value=\""),
        "form {id} has no CSRF token: {form}"
    );
}

async fn network(app: &TestApp, token: &str, client: &str, name: &str, cidr: &str) -> String {
    let r = app
        .post(
            &format!("/api/v1/clients/{client}/networks"),
            token,
            json!({"name": name, "cidr": cidr}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.id()
}

async fn quote(app: &TestApp, token: &str, client: &str, what: &str) -> String {
    let r = app
        .post(
            "/api/v1/quotes",
            token,
            json!({"client_id": client, "lines": [{"description": what, "quantity": "2", "unit_price": "150"}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.id()
}

#[tokio::test]
async fn console_client_page_shows_networks_assets_and_quotes_by_role_and_tenant() {
    let app = TestApp::new().await;
    let t = app.tenant("Blocks MSP").await;
    let other = app.tenant("Other Blocks MSP").await;
    let client = app.client(&t.admin, "Acme Blocks").await;
    let theirs = app.client(&other.admin, "Rival Blocks").await;

    let lan = network(&app, &t.admin, &client, "Office LAN", "10.1.0.0/24").await;
    let r = app
        .patch(
            &format!("/api/v1/clients/{client}/networks/{lan}"),
            &t.admin,
            json!({"vlan": 10, "gateway": "10.1.0.1", "dns_servers": ["10.1.0.2"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let their_net = network(&app, &other.admin, &theirs, "Secret Net", "172.16.0.0/16").await;
    let asset = app
        .post(
            "/api/v1/assets",
            &t.admin,
            json!({"client_id": client, "name": "Front desk PC", "type": "workstation",
                   "serial": "SN-BLOCK-1", "warranty_expires": "2027-03-31"}),
        )
        .await;
    assert_eq!(asset.status, StatusCode::CREATED, "{}", asset.body);
    let asset = asset.id();
    let their_asset = app
        .post(
            "/api/v1/assets",
            &other.admin,
            json!({"client_id": theirs, "name": "Rival server", "type": "server"}),
        )
        .await;
    assert_eq!(
        their_asset.status,
        StatusCode::CREATED,
        "{}",
        their_asset.body
    );
    let q = quote(&app, &t.admin, &client, "Firewall install").await;
    let their_q = quote(&app, &other.admin, &theirs, "Rival work").await;
    // 21 more networks: the block shows 20 and a next page.
    sqlx::query(
        "INSERT INTO networks (id, company_id, client_id, name, cidr, dns_servers, created_at, updated_at) \
         SELECT gen_random_uuid(), $1, $2::uuid, 'Zone ' || lpad(i::text, 2, '0'), '10.2.' || i || '.0/24', \
                '{}', now(), now() FROM generate_series(1, 21) i",
    )
    .bind(t.id)
    .bind(&client)
    .execute(&app.owner)
    .await
    .unwrap();

    let path = format!("/console/clients/{client}");
    let s = sign_in(&app, &admin_email("Blocks MSP")).await;
    let page = get(&app, &path, &s.cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert_eq!(page.title(), "Acme Blocks · Nestogy");
    // Networks: this client's, with VLAN, gateway and DNS, an edit link.
    let nets = element(&page, "networks", "section");
    assert!(nets.contains("(22)"), "{nets}");
    assert!(nets.contains(&format!("id=\"network-{lan}\"")), "{nets}");
    assert!(nets.contains("10.1.0.0/24") && nets.contains("10.1.0.1"));
    assert!(nets.contains(">10<") && nets.contains("10.1.0.2"));
    assert!(nets.contains(&format!("href=\"{path}/networks/{lan}\"")));
    assert!(!page.html.contains("Secret Net") && !page.html.contains(&their_net));
    assert!(!nets.contains("Zone 21"), "20 a page");
    assert_form_has_csrf(&page, "add-network");
    let key = "id=\"networks-next\" href=\"";
    let at = page.html.find(key).expect("a next page of networks") + key.len();
    let href = page.html[at..at + page.html[at..].find('"').unwrap()].replace("&amp;", "&");
    let next = get(&app, &href, &s.cookie).await;
    assert_eq!(next.status, StatusCode::OK, "{}", next.html);
    let nets = element(&next, "networks", "section");
    assert!(nets.contains("Zone 21"), "{nets}");
    assert!(!nets.contains("Office LAN"));
    // Assets: name, type, serial, warranty end, the asset's page.
    let assets = element(&page, "assets", "section");
    assert!(
        assets.contains(&format!("href=\"/console/assets/{asset}\"")),
        "{assets}"
    );
    assert!(assets.contains("Front desk PC") && assets.contains("Workstation"));
    assert!(
        assets.contains("SN-BLOCK-1") && assets.contains("Mar 31, 2027"),
        "{assets}"
    );
    assert!(!page.html.contains("Rival server"));
    assert!(!page.html.contains(&their_asset.id()));
    // Quotes: number or draft, status, total, validity, the quote's page.
    let quotes = element(&page, "quotes", "section");
    assert!(
        quotes.contains(&format!("href=\"/console/quotes/{q}\"")),
        "{quotes}"
    );
    assert!(
        quotes.contains("Draft") && quotes.contains("300.00"),
        "{quotes}"
    );
    assert!(!page.html.contains(&their_q));
    // Another tenant's client: the 404 page.
    let nope = get(&app, &format!("/console/clients/{theirs}"), &s.cookie).await;
    assert_eq!(nope.status, StatusCode::NOT_FOUND);

    // A tech: networks and assets, no quotes (techs do not read them).
    let (_, tech) = user(&app, &t.admin, "tech").await;
    let ts = sign_in(&app, &tech).await;
    let as_tech = get(&app, &path, &ts.cookie).await;
    assert_eq!(as_tech.status, StatusCode::OK, "{}", as_tech.html);
    assert!(as_tech.has_id("networks") && as_tech.has_id("assets"));
    assert!(!as_tech.has_id("quotes"));
    assert!(!as_tech.html.contains(&q));
    // An accountant: quotes, not the networks and assets they cannot read.
    let (_, accountant) = user(&app, &t.admin, "accountant").await;
    let acs = sign_in(&app, &accountant).await;
    let as_accountant = get(&app, &path, &acs.cookie).await;
    assert_eq!(
        as_accountant.status,
        StatusCode::OK,
        "{}",
        as_accountant.html
    );
    assert!(as_accountant.has_id("quotes"));
    assert!(as_accountant.html.contains(&format!("id=\"quote-{q}\"")));
    assert!(!as_accountant.has_id("networks") && !as_accountant.has_id("assets"));
}

#[tokio::test]
async fn console_client_page_adds_edits_and_deletes_networks() {
    let app = TestApp::new().await;
    let t = app.tenant("Networks MSP").await;
    let other = app.tenant("Other Networks MSP").await;
    let client = app.client(&t.admin, "Net Client").await;
    let theirs = app.client(&other.admin, "Their Net Client").await;
    let their_net = network(&app, &other.admin, &theirs, "Their LAN", "192.168.9.0/24").await;
    let s = sign_in(&app, &admin_email("Networks MSP")).await;
    let path = format!("/console/clients/{client}");
    let page = get(&app, &path, &s.cookie).await;
    let csrf = page.csrf();

    // Without the token: refused.
    let no_token = post(
        &app,
        &format!("{path}/networks"),
        &s.cookie,
        &[("name", "LAN"), ("cidr", "10.0.0.0/24")],
    )
    .await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);

    // A bad CIDR: the page again with the API's message and what was typed.
    let bad = post(
        &app,
        &format!("{path}/networks"),
        &s.cookie,
        &[
            ("csrf", &csrf),
            ("name", "Guest Wi-Fi"),
            ("cidr", "10.0.0.0/33"),
            ("vlan", "20"),
        ],
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.html);
    let form = element(&bad, "add-network", "form");
    assert!(form.contains("value=\"Guest Wi-Fi\""), "{form}");
    assert!(form.contains("class=\"field-problem\""), "{form}");
    assert!(form.contains("cidr must be"), "{form}");

    // Added.
    let added = post(
        &app,
        &format!("{path}/networks"),
        &s.cookie,
        &[
            ("csrf", &csrf),
            ("name", "Guest Wi-Fi"),
            ("cidr", "10.0.5.7/24"),
            ("vlan", "20"),
            ("gateway", "10.0.5.1"),
            ("dns_servers", "1.1.1.1, 9.9.9.9"),
            ("notes", ""),
        ],
    )
    .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.html);
    assert_eq!(added.location(), format!("{path}#networks"));
    let list = app
        .get(&format!("/api/v1/clients/{client}/networks"), &t.admin)
        .await;
    assert_eq!(list.body["total"], 1, "{}", list.body);
    let n = &list.body["data"][0];
    assert_eq!(n["cidr"], "10.0.5.0/24");
    assert_eq!(n["vlan"], 20);
    assert_eq!(n["dns_servers"], json!(["1.1.1.1", "9.9.9.9"]));
    let id = n["id"].as_str().unwrap().to_owned();

    // The edit page: its form, a refusal kept, then saved.
    let edit_path = format!("{path}/networks/{id}");
    let edit = get(&app, &edit_path, &s.cookie).await;
    assert_eq!(edit.status, StatusCode::OK, "{}", edit.html);
    assert_eq!(edit.title(), "Network Guest Wi-Fi · Nestogy");
    assert_form_has_csrf(&edit, "edit-network");
    assert!(edit.html.contains("value=\"10.0.5.0/24\""));
    let no_token = post(&app, &edit_path, &s.cookie, &[("name", "X")]).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    let outside = post(
        &app,
        &edit_path,
        &s.cookie,
        &[
            ("csrf", &csrf),
            ("name", "Guests"),
            ("cidr", "10.0.5.0/24"),
            ("gateway", "10.9.9.1"),
        ],
    )
    .await;
    assert_eq!(
        outside.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        outside.html
    );
    let form = element(&outside, "edit-network", "form");
    assert!(
        form.contains("gateway must be an address inside the network"),
        "{form}"
    );
    assert!(form.contains("value=\"10.9.9.1\""), "{form}");
    let saved = post(
        &app,
        &edit_path,
        &s.cookie,
        &[
            ("csrf", &csrf),
            ("name", "Guests"),
            ("cidr", "10.0.5.0/24"),
            ("vlan", ""),
            ("gateway", "10.0.5.254"),
            ("dns_servers", ""),
            ("notes", "Captive portal"),
        ],
    )
    .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    let n = app
        .get(&format!("/api/v1/clients/{client}/networks/{id}"), &t.admin)
        .await;
    assert_eq!(n.body["name"], "Guests", "{}", n.body);
    assert_eq!(n.body["vlan"], serde_json::Value::Null);
    assert_eq!(n.body["gateway"], "10.0.5.254");
    assert_eq!(n.body["notes"], "Captive portal");
    let page = get(&app, &path, &s.cookie).await;
    assert!(element(&page, "networks", "section").contains("Guests"));

    // Another tenant's network, under its client or this one: 404 pages.
    for p in [
        format!("/console/clients/{theirs}/networks/{their_net}"),
        format!("{path}/networks/{their_net}"),
    ] {
        let r = get(&app, &p, &s.cookie).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{p}");
        let r = post(&app, &format!("{p}/delete"), &s.cookie, &[("csrf", &csrf)]).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{p}");
    }
    let still = app
        .get(&format!("/api/v1/clients/{theirs}/networks"), &other.admin)
        .await;
    assert_eq!(still.body["total"], 1);

    // Deleted: without the token refused, then gone.
    let delete = format!("{edit_path}/delete");
    assert_form_has_csrf(&edit, "delete-network");
    let no_token = post(&app, &delete, &s.cookie, &[]).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    let gone = post(&app, &delete, &s.cookie, &[("csrf", &csrf)]).await;
    assert_eq!(gone.status, StatusCode::SEE_OTHER, "{}", gone.html);
    let list = app
        .get(&format!("/api/v1/clients/{client}/networks"), &t.admin)
        .await;
    assert_eq!(list.body["total"], 0, "{}", list.body);
}

/// `n` clients "Bulk client 0001", ... of the tenant `company`, in one
/// statement.
async fn bulk_clients(app: &TestApp, company: nestogy_domain::TenantId, n: i64) {
    sqlx::query(
        "INSERT INTO clients (id, company_id, name, created_at, updated_at) \
         SELECT gen_random_uuid(), $1, 'Bulk client ' || lpad(i::text, 4, '0'), now(), now() \
         FROM generate_series(1, $2) i",
    )
    .bind(company)
    .bind(n)
    .execute(&app.owner)
    .await
    .unwrap();
}

/// The `<option>`s of the select `id` on `page`.
fn options(page: &Page, id: &str) -> usize {
    element(page, id, "select").matches("<option").count()
}

#[tokio::test]
async fn console_client_picker_searches_past_200_clients() {
    let app = TestApp::new().await;
    let t = app.tenant("Picker MSP").await;
    let other = app.tenant("Other Picker MSP").await;
    bulk_clients(&app, t.id, 250).await;
    let zebra = app.client(&t.admin, "Zebra Works").await;
    let their_zebra = app.client(&other.admin, "Zebra Works").await;
    let s = sign_in(&app, &admin_email("Picker MSP")).await;

    // The new-ticket form: a search, not a select of 251 clients.
    let form = get(&app, "/console/tickets/new", &s.cookie).await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.html);
    assert!(form.html.contains("name=\"client_q\""), "{}", form.html);
    assert!(
        form.html
            .contains("<label for=\"nt-client-q\">Client</label>")
    );
    assert!(options(&form, "nt-client") < 5);
    assert!(!form.html.contains("Bulk client 0001"));
    assert!(form.html.contains("src=\"/console/static/app.js\""));

    // The client page's "New ticket": the client chosen, though not in a
    // search.
    let preset = get(
        &app,
        &format!("/console/tickets/new?client_id={zebra}"),
        &s.cookie,
    )
    .await;
    assert_eq!(preset.status, StatusCode::OK, "{}", preset.html);
    assert!(preset.html.contains(&format!("value=\"{zebra}\" selected")));
    let client_page = get(&app, &format!("/console/clients/{zebra}"), &s.cookie).await;
    assert!(
        client_page
            .html
            .contains(&format!("href=\"/console/tickets/new?client_id={zebra}\""))
    );

    // Find: the same form with the matches, what was typed kept.
    let found = get(
        &app,
        "/console/tickets/new?csrf=x&client_id=&client_q=zebra&subject=Printer+jam&description=&priority=high&client_find=1",
        &s.cookie,
    )
    .await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.html);
    let select = element(&found, "nt-client", "select");
    assert!(select.contains(&format!("value=\"{zebra}\"")), "{select}");
    assert!(!found.html.contains(&their_zebra));
    assert!(!select.contains("Bulk client"));
    assert!(found.html.contains("value=\"Printer jam\""));
    assert!(found.html.contains("value=\"high\" selected"));
    assert!(found.html.contains("value=\"zebra\""));

    // A refused form keeps the chosen client selected.
    let csrf = form.csrf();
    let refused = post(
        &app,
        "/console/tickets/new",
        &s.cookie,
        &[
            ("csrf", &csrf),
            ("client_q", "zebra"),
            ("client_id", &zebra),
            ("subject", ""),
            ("description", ""),
            ("priority", "medium"),
        ],
    )
    .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.html
    );
    assert!(
        refused
            .html
            .contains(&format!("value=\"{zebra}\" selected")),
        "{}",
        refused.html
    );
    // Chosen without a search: still an option, selected.
    let refused = post(
        &app,
        "/console/tickets/new",
        &s.cookie,
        &[
            ("csrf", &csrf),
            ("client_id", &zebra),
            ("subject", ""),
            ("priority", "medium"),
        ],
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused
            .html
            .contains(&format!("value=\"{zebra}\" selected"))
    );
    let made = post(
        &app,
        "/console/tickets/new",
        &s.cookie,
        &[
            ("csrf", &csrf),
            ("client_q", "zebra"),
            ("client_id", &zebra),
            ("subject", "Printer jam"),
            ("priority", "high"),
        ],
    )
    .await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.html);

    // The queue's filter: the same picker.
    let queue = get(&app, "/console/tickets?client_q=zebra", &s.cookie).await;
    assert_eq!(queue.status, StatusCode::OK, "{}", queue.html);
    assert!(queue.html.contains("id=\"f-client-q\""));
    assert!(element(&queue, "f-client", "select").contains(&format!("value=\"{zebra}\"")));

    // The options the script fetches: this tenant's matches only.
    let opts = get(&app, "/console/clients/options?q=zebra", &s.cookie).await;
    assert_eq!(opts.status, StatusCode::OK, "{}", opts.html);
    assert_eq!(
        opts.html,
        format!("<option value=\"{zebra}\">Zebra Works</option>")
    );
    let opts = get(&app, "/console/clients/options?q=bulk+client+02", &s.cookie).await;
    assert_eq!(opts.html.matches("<option").count(), 50, "{}", opts.html);
    assert!(!opts.html.contains("Zebra"));
    // Not signed in: the sign-in page, no client.
    let anonymous = get(&app, "/console/clients/options?q=zebra", "").await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
    assert_eq!(anonymous.location(), "/console/login");

    // Other forms: the same picker (projects, assets, the invoice's first step).
    for (path, id) in [
        ("/console/projects/new?client_q=zebra", "f-client_id"),
        ("/console/assets/new?client_q=zebra", "f-client_id"),
        ("/console/invoices/new?client_q=zebra", "f-client_id"),
        ("/console/time/bill?client_q=zebra", "f-client_id"),
    ] {
        let r = get(&app, path, &s.cookie).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.html);
        assert!(r.html.contains("name=\"client_q\""), "{path}");
        let select = element(&r, id, "select");
        assert!(
            select.contains(&format!("value=\"{zebra}\"")),
            "{path}: {select}"
        );
        assert!(!select.contains("Bulk client"), "{path}");
    }

    // A small company: a plain select of all its clients.
    let os = sign_in(&app, &admin_email("Other Picker MSP")).await;
    let small = get(&app, "/console/tickets/new", &os.cookie).await;
    assert_eq!(small.status, StatusCode::OK);
    assert!(!small.html.contains("name=\"client_q\""));
    let select = element(&small, "nt-client", "select");
    assert!(select.contains(&format!("value=\"{their_zebra}\"")));
    assert!(!select.contains(&zebra));
}

/// In a browser: typing in the picker's search fills its select with the
/// matches (the script's `/console/clients/options`), and Enter in another
/// field opens the ticket (the form's own button, not "Find").
#[tokio::test]
async fn console_client_picker_searches_as_one_types_in_a_real_browser() {
    let app = TestApp::new().await;
    let t = app.tenant("Live Picker MSP").await;
    bulk_clients(&app, t.id, 210).await;
    let zebra = app.client(&t.admin, "Zebra Works").await;
    let (base, stop) = crate::common::serve(app.web.clone()).await;

    let b = Browser::start().await;
    b.goto(&format!("{base}/console/login")).await;
    b.type_into("#email", &admin_email("Live Picker MSP")).await;
    b.type_into("#password", PASSWORD).await;
    b.click("#sign-in").await;
    b.wait_for_text("h1", "Home").await;
    b.goto(&format!("{base}/console/tickets/new")).await;
    b.wait_for_text("h1", "New ticket").await;
    b.type_into("#nt-client-q", "zebr").await;
    b.wait_for_text("#nt-client", "Zebra Works").await;
    b.click(&format!("#nt-client option[value=\"{zebra}\"]"))
        .await;
    b.keep_screenshot("console-client-picker.png").await;
    b.type_into("#nt-subject", "Scanner offline").await;
    b.press("\u{E007}").await;
    b.wait_for_text("h1", "Scanner offline").await;
    let list = app
        .get(&format!("/api/v1/tickets?client_id={zebra}"), &t.admin)
        .await;
    assert_eq!(list.body["total"], 1, "{}", list.body);
    // The client's page with its blocks, for the screenshot.
    network(&app, &t.admin, &zebra, "Office LAN", "10.1.0.0/24").await;
    quote(&app, &t.admin, &zebra, "Firewall install").await;
    b.goto(&format!("{base}/console/clients/{zebra}")).await;
    b.wait_for_text("#networks", "Office LAN").await;
    b.wait_for_text("#quotes", "Draft").await;
    b.keep_screenshot("console-client-page.png").await;
    b.quit().await;
    let _ = stop.send(());
}

#[tokio::test]
async fn console_client_page_edits_and_deletes_contacts_and_locations_and_archives() {
    let app = TestApp::new().await;
    let t = app.tenant("Parts MSP").await;
    let other = app.tenant("Other Parts MSP").await;
    let client = app.client(&t.admin, "Parts Client").await;
    let theirs = app.client(&other.admin, "Their Parts Client").await;
    let contact = app
        .post(
            &format!("/api/v1/clients/{client}/contacts"),
            &t.admin,
            json!({"name": "Carl", "email": "carl@parts.example"}),
        )
        .await
        .id();
    let location = app
        .post(
            &format!("/api/v1/clients/{client}/locations"),
            &t.admin,
            json!({"name": "Depot", "address": {"city": "Lyon"}}),
        )
        .await
        .id();
    let their_contact = app
        .post(
            &format!("/api/v1/clients/{theirs}/contacts"),
            &other.admin,
            json!({"name": "Theirs"}),
        )
        .await
        .id();
    let s = sign_in(&app, &admin_email("Parts MSP")).await;
    let path = format!("/console/clients/{client}");
    let page = get(&app, &path, &s.cookie).await;
    assert!(
        page.html
            .contains(&format!("href=\"{path}/contacts/{contact}\""))
    );
    assert!(
        page.html
            .contains(&format!("href=\"{path}/locations/{location}\""))
    );

    // The contact's page: its form filled, CSRF-protected.
    let cp = get(&app, &format!("{path}/contacts/{contact}"), &s.cookie).await;
    assert_eq!(cp.status, StatusCode::OK, "{}", cp.html);
    assert!(cp.title().starts_with("Contact Carl"));
    assert_form_has_csrf(&cp, "edit-contact");
    assert!(element(&cp, "edit-contact", "form").contains("value=\"carl@parts.example\""));
    let csrf = cp.csrf();
    // A bad address: the form again with the API's problem and the typing.
    let bad = post(
        &app,
        &format!("{path}/contacts/{contact}"),
        &s.cookie,
        &[
            ("csrf", &csrf),
            ("name", "Carl B"),
            ("email", "not an address"),
        ],
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.html);
    assert!(element(&bad, "edit-contact", "form").contains("value=\"Carl B\""));
    let saved = post(
        &app,
        &format!("{path}/contacts/{contact}"),
        &s.cookie,
        &[
            ("csrf", &csrf),
            ("name", "Carl Brandt"),
            ("email", "carl@parts.example"),
            ("phone", "+33 1 23"),
            ("is_billing", "true"),
        ],
    )
    .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    let r = app
        .get(
            &format!("/api/v1/clients/{client}/contacts/{contact}"),
            &t.admin,
        )
        .await;
    assert_eq!(r.body["name"], "Carl Brandt");
    assert_eq!(r.body["phone"], "+33 1 23");
    assert_eq!(r.body["is_billing"], true);

    // The location's page, saved.
    let lp = get(&app, &format!("{path}/locations/{location}"), &s.cookie).await;
    assert_eq!(lp.status, StatusCode::OK, "{}", lp.html);
    assert!(element(&lp, "edit-location", "form").contains("value=\"Lyon\""));
    let saved = post(
        &app,
        &format!("{path}/locations/{location}"),
        &s.cookie,
        &[("csrf", &csrf), ("name", "Depot North"), ("city", "Lille")],
    )
    .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    let r = app
        .get(
            &format!("/api/v1/clients/{client}/locations/{location}"),
            &t.admin,
        )
        .await;
    assert_eq!(r.body["name"], "Depot North");
    assert_eq!(r.body["address"]["city"], "Lille");

    // Another tenant's contact, and a contact under the wrong client: 404.
    for p in [
        format!("{path}/contacts/{their_contact}"),
        format!("/console/clients/{theirs}/contacts/{their_contact}"),
        format!("{path}/contacts/not-an-id"),
    ] {
        assert_eq!(
            get(&app, &p, &s.cookie).await.status,
            StatusCode::NOT_FOUND,
            "{p}"
        );
    }
    let refused = post(
        &app,
        &format!("/console/clients/{theirs}/contacts/{their_contact}/delete"),
        &s.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);

    // Deleted.
    for (part, id) in [("contacts", &contact), ("locations", &location)] {
        let gone = post(
            &app,
            &format!("{path}/{part}/{id}/delete"),
            &s.cookie,
            &[("csrf", &csrf)],
        )
        .await;
        assert_eq!(gone.status, StatusCode::SEE_OTHER, "{}", gone.html);
        let r = app
            .get(&format!("/api/v1/clients/{client}/{part}/{id}"), &t.admin)
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
    }

    // Archive and restore.
    let archived = post(
        &app,
        &format!("{path}/archive"),
        &s.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(archived.status, StatusCode::SEE_OTHER, "{}", archived.html);
    let page = get(&app, &path, &s.cookie).await;
    assert!(page.html.contains("(archived)") && page.has_id("restore-client"));
    let restored = post(
        &app,
        &format!("{path}/restore"),
        &s.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(restored.status, StatusCode::SEE_OTHER);
    let page = get(&app, &path, &s.cookie).await;
    assert!(!page.html.contains("(archived)") && page.has_id("archive-client"));
    let forged = post(&app, &format!("{path}/archive"), &s.cookie, &[]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
}
