//! The console's line rows (one table for invoices, quotes and recurring
//! templates; `web/src/pages/line_rows.rs`): a draft invoice created with
//! more lines than three, "Add more rows" without script, a draft's lines
//! edited (changed, removed, added) through `PUT /api/v1/invoices/{id}`
//! with what the table does not show (taxes) kept, a bad quantity shown
//! beside its row, a finalized invoice without the form and its POST
//! refused; and canned replies inserted into the ticket page's reply box.

use axum::http::StatusCode;
use serde_json::json;

use crate::common::{PASSWORD, TestApp};
use crate::console::{Page, admin_email, get, post, sign_in, user};

/// `&`-escapes of the console's HTML, undone.
fn unescape(v: &str) -> String {
    v.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The fields form `form_id` of `page` would post as a browser fills it:
/// its inputs (text, hidden, ticked checkboxes; not buttons or files) and
/// text areas, each as (name, value).
fn form_inputs(page: &Page, form_id: &str) -> Vec<(String, String)> {
    let at = page
        .html
        .find(&format!("id=\"{form_id}\""))
        .unwrap_or_else(|| panic!("no #{form_id} in {}", page.html));
    let form = &page.html[at..];
    let form = &form[..form.find("</form>").expect("end of form")];
    let mut out = Vec::new();
    for input in form.split("<input").skip(1) {
        let tag = &input[..input.find('>').unwrap_or(input.len())];
        let attr = |a: &str| {
            tag.split(&format!(" {a}=\""))
                .nth(1)
                .and_then(|v| v.split('"').next())
                .map(unescape)
        };
        let kind = attr("type").unwrap_or_default();
        if kind == "file" || (kind == "checkbox" && !tag.contains(" checked")) {
            continue;
        }
        if let (Some(n), Some(v)) = (attr("name"), attr("value")) {
            out.push((n, v));
        }
    }
    for area in form.split("<textarea").skip(1) {
        let Some((tag, rest)) = area.split_once('>') else {
            continue;
        };
        let name = tag
            .split(" name=\"")
            .nth(1)
            .and_then(|v| v.split('"').next());
        if let (Some(n), Some((text, _))) = (name, rest.split_once("</textarea>")) {
            out.push((n.to_owned(), unescape(text)));
        }
    }
    out
}

/// `fields` with `changes` applied (a new value, or a new field).
fn with(mut fields: Vec<(String, String)>, changes: &[(&str, &str)]) -> Vec<(String, String)> {
    for (k, v) in changes {
        match fields.iter_mut().find(|(n, _)| n == k) {
            Some(f) => f.1 = (*v).to_owned(),
            None => fields.push(((*k).to_owned(), (*v).to_owned())),
        }
    }
    fields
}

fn pairs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// A new draft with four lines (the form had three fixed ones before);
/// "Add more rows" draws the form again as typed, with more rows, and
/// creates nothing.
#[tokio::test]
async fn a_draft_invoice_is_created_with_any_number_of_lines() {
    let app = TestApp::new().await;
    let t = app.tenant("Rows MSP").await;
    let client = app.client(&t.admin, "Rho Robotics").await;
    let s = sign_in(&app, &admin_email("Rows MSP")).await;
    let form = get(
        &app,
        &format!("/console/invoices/new?client_id={client}"),
        &s.cookie,
    )
    .await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.html);
    assert!(form.has_id("line-2-description") && !form.has_id("line-3-description"));
    assert!(form.has_id("add-rows"));
    let typed = with(
        form_inputs(&form, "new-draft"),
        &[
            ("lines[0].description", "Onboarding"),
            ("lines[0].quantity", "2"),
            ("lines[0].unit_price", "80"),
            ("lines[1].description", "Cabling"),
            ("lines[1].quantity", "1"),
            ("lines[1].unit_price", "25.50"),
            ("lines[2].description", "Rack <install>"),
            ("lines[2].quantity", "1"),
            ("lines[2].unit_price", "300"),
        ],
    );
    let more = post(
        &app,
        "/console/invoices/new",
        &s.cookie,
        &pairs(&with(typed.clone(), &[("add_rows", "1")])),
    )
    .await;
    assert_eq!(more.status, StatusCode::OK, "{}", more.html);
    assert!(more.has_id("line-5-description"), "{}", more.html);
    assert!(!more.has_id("line-6-description"));
    assert!(more.html.contains("value=\"Rack &lt;install&gt;\""));
    let drafts = app.get("/api/v1/invoices?status=draft", &t.admin).await;
    assert_eq!(drafts.body["total"], 0, "nothing created");

    let four = with(
        form_inputs(&more, "new-draft"),
        &[
            ("lines[3].description", "Support"),
            ("lines[3].quantity", "3"),
            ("lines[3].unit_price", "10"),
        ],
    );
    let ok = post(&app, "/console/invoices/new", &s.cookie, &pairs(&four)).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.html);
    let id = ok.location().trim_start_matches("/console/invoices/");
    let inv = app.get(&format!("/api/v1/invoices/{id}"), &t.admin).await;
    assert_eq!(inv.status, StatusCode::OK, "{}", inv.body);
    let lines = inv.body["lines"].as_array().expect("lines");
    assert_eq!(lines.len(), 4, "{}", inv.body);
    assert_eq!(lines[2]["description"], "Rack <install>");
    assert_eq!(lines[3]["description"], "Support");
    assert_eq!(inv.body["total"], "515.50");
}

/// A draft's lines edited on its page: one changed, one removed, one
/// added; the API's total follows and the taxed line keeps its tax (a
/// hidden field of its row). A bad quantity comes back beside its row
/// with everything typed; another tenant's draft is a 404; once
/// finalized, no form, and a POST gets the API's refusal as its page.
#[tokio::test]
async fn a_drafts_lines_are_edited_until_it_is_finalized() {
    let app = TestApp::new().await;
    let t = app.tenant("Edit Rows MSP").await;
    let other = app.tenant("Other Rows MSP").await;
    let client = app
        .billed_client(&t.admin, "Sigma Systems", "ap@sigma.example")
        .await;
    let vat = app
        .post(
            "/api/v1/tax-rates",
            &t.admin,
            json!({"name": "VAT", "percent": "19"}),
        )
        .await;
    assert_eq!(vat.status, StatusCode::CREATED, "{}", vat.body);
    let vat = vat.id();
    let r = app
        .post(
            "/api/v1/invoices",
            &t.admin,
            json!({"client_id": client, "lines": [
                {"description": "Monitoring", "quantity": "2", "unit_price": "50", "tax_rate_ids": [vat]},
                {"description": "Backup", "quantity": "1", "unit_price": "20"},
                {"description": "Licence", "quantity": "5", "unit_price": "4"},
            ]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["total"], "159.00");
    let id = r.id();
    let api_path = format!("/api/v1/invoices/{id}");
    let theirs = app.client(&other.admin, "Their Rows Client").await;
    let theirs = app
        .post(
            "/api/v1/invoices",
            &other.admin,
            json!({"client_id": theirs, "lines": [{"description": "Secret", "quantity": "1", "unit_price": "1"}]}),
        )
        .await
        .id();
    let s = sign_in(&app, &admin_email("Edit Rows MSP")).await;
    let path = format!("/console/invoices/{id}");
    let page = get(&app, &path, &s.cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.has_id("edit-lines"));
    assert!(page.html.contains(&format!("action=\"{path}/lines\"")));
    let stored = form_inputs(&page, "edit-lines");
    assert!(
        stored
            .iter()
            .any(|(k, v)| k == "lines[0].taxes" && v == &vat),
        "{stored:?}"
    );
    assert!(
        page.has_id("line-5-description"),
        "three lines and three to add"
    );

    // A bad quantity: its row says so, the typing stays, nothing changes.
    let bad = with(
        stored.clone(),
        &[
            ("lines[1].quantity", "two"),
            ("lines[1].description", "Backup <nightly>"),
        ],
    );
    let r = post(&app, &format!("{path}/lines"), &s.cookie, &pairs(&bad)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.html);
    assert!(r.has_id("line-1-problem"), "{}", r.html);
    let problem = &r.html[r.html.find("id=\"line-1-problem\"").expect("problem")..];
    assert!(
        problem.starts_with("id=\"line-1-problem\">Quantity: "),
        "{problem}"
    );
    assert!(r.html.contains("aria-describedby=\"line-1-problem\""));
    assert!(r.html.contains("value=\"two\""));
    assert!(r.html.contains("value=\"Backup &lt;nightly&gt;\""));
    assert!(!r.has_id("line-0-problem"));
    assert_eq!(app.get(&api_path, &t.admin).await.body["total"], "159.00");

    // No CSRF token: refused.
    let no_token: Vec<_> = stored
        .iter()
        .filter(|(k, _)| k != "csrf")
        .cloned()
        .collect();
    let r = post(&app, &format!("{path}/lines"), &s.cookie, &pairs(&no_token)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // Change one, remove one, add one.
    let edit = with(
        stored.clone(),
        &[
            ("lines[1].quantity", "2"),
            ("lines[2].remove", "true"),
            ("lines[3].description", "Setup"),
            ("lines[3].quantity", "1"),
            ("lines[3].unit_price", "15"),
        ],
    );
    let r = post(&app, &format!("{path}/lines"), &s.cookie, &pairs(&edit)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    assert_eq!(r.location(), format!("{path}?done=saved"));
    let inv = app.get(&api_path, &t.admin).await.body;
    let names: Vec<&str> = inv["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| l["description"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(names, ["Monitoring", "Backup", "Setup"]);
    assert_eq!(inv["lines"][1]["quantity"], "2");
    assert_eq!(inv["lines"][0]["taxes"][0]["tax_rate_id"], json!(vat));
    assert_eq!(inv["tax_total"], "19.00");
    assert_eq!(inv["total"], "174.00");
    assert_eq!(inv["status"], "draft");
    let saved = get(&app, r.location(), &s.cookie).await;
    assert!(saved.has_id("done"));
    assert!(saved.html.contains("174.00"));

    // Another tenant's draft: 404, theirs unchanged.
    let r = post(
        &app,
        &format!("/console/invoices/{theirs}/lines"),
        &s.cookie,
        &pairs(&edit),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.html);
    let their_inv = app
        .get(&format!("/api/v1/invoices/{theirs}"), &other.admin)
        .await;
    assert_eq!(their_inv.body["lines"].as_array().map(Vec::len), Some(1));

    // Finalized: no form; a POST gets the API's refusal.
    let r = app
        .post(&format!("{api_path}/finalize"), &t.admin, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let page = get(&app, &path, &s.cookie).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.has_id("edit-lines") && !page.has_id("line-0-description"));
    let r = post(&app, &format!("{path}/lines"), &s.cookie, &pairs(&edit)).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.html);
    assert!(r.html.contains("cannot edit an invoice"), "{}", r.html);
    assert_eq!(app.get(&api_path, &t.admin).await.body["total"], "174.00");
}

async fn token(app: &TestApp, email: &str) -> String {
    let r = app.login(email, PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["access_token"].as_str().expect("token").to_owned()
}

/// The text of the reply box.
fn reply_box(page: &Page) -> String {
    let at = page
        .html
        .find("id=\"message-body\"")
        .unwrap_or_else(|| panic!("no reply box in {}", page.html));
    let rest = &page.html[at..];
    let start = rest.find('>').expect("tag end") + 1;
    let end = rest.find("</textarea>").expect("textarea end");
    unescape(&rest[start..end])
}

/// The reply form offers the user's canned replies (the company's and
/// their own, not a colleague's personal ones); "Insert" draws the page
/// again with the reply box holding what was typed and the reply rendered
/// for the ticket by the API (contact's first name, ticket number); nothing
/// is sent. Without the CSRF token, refused; a reply the user cannot use
/// is said on the form, the typing kept.
#[tokio::test]
async fn canned_replies_are_inserted_into_the_reply_box() {
    let app = TestApp::new().await;
    let t = app.tenant("Canned Console").await;
    let other = app.tenant("Canned Elsewhere").await;
    let client = app.client(&t.admin, "Acme Canned").await;
    let contact = app
        .post(
            &format!("/api/v1/clients/{client}/contacts"),
            &t.admin,
            json!({"name": "Alice Smith", "email": "alice@acme.example"}),
        )
        .await;
    assert_eq!(contact.status, StatusCode::CREATED, "{}", contact.body);
    let tk = app
        .post(
            "/api/v1/tickets",
            &t.admin,
            json!({"subject": "Printer jammed", "client_id": client, "contact_id": contact.id()}),
        )
        .await;
    assert_eq!(tk.status, StatusCode::CREATED, "{}", tk.body);
    let number = tk.body["token"]
        .as_str()
        .expect("token")
        .trim_matches(['[', ']'])
        .to_owned();
    let ticket = tk.id();
    let canned = |token: String, title: &'static str, body: &'static str, scope: &'static str| {
        let app = &app;
        async move {
            let r = app
                .post(
                    "/api/v1/canned-replies",
                    &token,
                    json!({"title": title, "body": body, "scope": scope}),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
            r.id()
        }
    };
    let shared = canned(
        t.admin.clone(),
        "Printer fixed",
        "Hi {{contact.first_name}}, ticket {{ticket.number}} is fixed.",
        "company",
    )
    .await;
    let (_, tech) = user(&app, &t.admin, "tech").await;
    let tech_token = token(&app, &tech).await;
    canned(tech_token, "Tech only", "Mine.", "personal").await;
    let theirs = canned(other.admin.clone(), "Their reply", "Theirs.", "company").await;

    let s = sign_in(&app, &admin_email("Canned Console")).await;
    let path = format!("/console/tickets/{ticket}");
    let page = get(&app, &path, &s.cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.has_id("canned-reply") && page.has_id("insert-canned"));
    assert!(page.html.contains(&format!("formaction=\"{path}/canned\"")));
    assert!(page.html.contains("Printer fixed (shared)"));
    assert!(!page.html.contains("Tech only") && !page.html.contains("Their reply"));
    let csrf = page.csrf();
    let messages_path = format!("/api/v1/tickets/{ticket}/messages");
    let messages = || async {
        let r = app.get(&messages_path, &t.admin).await;
        r.body.as_array().map(Vec::len).unwrap_or_default()
    };
    let before = messages().await;

    let form = [
        ("kind", "reply"),
        ("body", "Thanks for waiting."),
        ("canned_id", shared.as_str()),
    ];
    let r = post(&app, &format!("{path}/canned"), &s.cookie, &form).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.html);
    let mut with_token = vec![("csrf", csrf.as_str())];
    with_token.extend(form);
    let r = post(&app, &format!("{path}/canned"), &s.cookie, &with_token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.html);
    assert_eq!(
        reply_box(&r),
        format!("Thanks for waiting.\n\nHi Alice, ticket {number} is fixed.")
    );
    assert!(r.html.contains("value=\"reply\" checked"), "the kind stays");
    assert_eq!(messages().await, before, "nothing sent");

    // Another tenant's reply: said on the form, the typing kept.
    let r = post(
        &app,
        &format!("{path}/canned"),
        &s.cookie,
        &[
            ("csrf", csrf.as_str()),
            ("kind", "note"),
            ("body", "Draft <text>"),
            ("canned_id", theirs.as_str()),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.html);
    assert!(r.has_id("message-form"));
    assert_eq!(reply_box(&r), "Draft <text>");
    assert!(!r.html.contains("Theirs."));
    assert_eq!(messages().await, before);
}

/// A draft quote's lines edited on its page as an invoice's are, its notes
/// and terms kept (the quote now answers them); once sent, no form, and a
/// POST gets the API's refusal.
#[tokio::test]
async fn a_draft_quotes_lines_are_edited_until_it_is_sent() {
    let app = TestApp::new().await;
    let t = app.tenant("Quote Rows MSP").await;
    let client = app
        .billed_client(&t.admin, "Tau Telecom", "ap@tau.example")
        .await;
    let r = app
        .post(
            "/api/v1/quotes",
            &t.admin,
            json!({"client_id": client, "notes": "Keep me", "terms": "Net 14",
                   "lines": [
                {"description": "Switch", "quantity": "1", "unit_price": "400"},
                {"description": "Install", "quantity": "2", "unit_price": "90"},
            ]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["total"], "580.00");
    assert_eq!(r.body["notes"], "Keep me");
    let id = r.id();
    let api_path = format!("/api/v1/quotes/{id}");
    let s = sign_in(&app, &admin_email("Quote Rows MSP")).await;
    let path = format!("/console/quotes/{id}");
    let page = get(&app, &path, &s.cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.html.contains("Keep me"));
    let stored = form_inputs(&page, "edit-lines");
    let edit = with(
        stored,
        &[
            ("lines[0].quantity", "2"),
            ("lines[1].remove", "true"),
            ("lines[2].description", "Cables"),
            ("lines[2].quantity", "4"),
            ("lines[2].unit_price", "5"),
        ],
    );
    let r = post(&app, &format!("{path}/lines"), &s.cookie, &pairs(&edit)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    let q = app.get(&api_path, &t.admin).await.body;
    assert_eq!(q["total"], "820.00", "{q}");
    assert_eq!(q["lines"].as_array().map(Vec::len), Some(2));
    assert_eq!(q["notes"], "Keep me");
    assert_eq!(q["terms"], "Net 14");

    let r = app
        .post(&format!("{api_path}/send"), &t.admin, json!({}))
        .await;
    assert!(r.status.is_success(), "{}", r.body);
    let page = get(&app, &path, &s.cookie).await;
    assert!(!page.has_id("edit-lines"));
    let r = post(&app, &format!("{path}/lines"), &s.cookie, &pairs(&edit)).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.html);
    assert_eq!(app.get(&api_path, &t.admin).await.body["total"], "820.00");
}
