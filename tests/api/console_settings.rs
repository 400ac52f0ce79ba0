//! The console's settings pages (admins only; others get the API's 403):
//! the index, the company form, branding with the logo's multipart upload
//! (its CSRF token checked before anything reaches the API) and the
//! invoice preview; every form's CSRF token, its 422 path and each
//! action's effect through the JSON API.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::json;
use tower::ServiceExt;

use crate::common::{PASSWORD, Tenant, TestApp, pdf_text};
use crate::console::{Page, Session, admin_email, get, post, post_file, sign_in, user};
use crate::documents::PNG;

const SVG: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"40\" height=\"10\"><rect width=\"40\" height=\"10\" fill=\"#c0392b\"/></svg>";

/// The whole form of `id` on `page`: its fields must include the CSRF token.
pub(crate) fn assert_form_has_csrf(page: &Page, id: &str) {
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

/// The value of attribute `attr` of the element with `id`.
pub(crate) fn attr(page: &Page, id: &str, attr: &str) -> String {
    let at = page
        .html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no {id} in {}", page.html));
    let start = page.html[..at].rfind('<').expect("tag start");
    let end = at + page.html[at..].find('>').expect("tag end");
    let tag = &page.html[start..end];
    let key = format!("{attr}=\"");
    let v = tag
        .find(&key)
        .unwrap_or_else(|| panic!("no {attr} in {tag}"))
        + key.len();
    tag[v..v + tag[v..].find('"').unwrap()].replace("&amp;", "&")
}

/// A `multipart/form-data` POST of `fields` (name, value) and a file part
/// `logo` (file name, content type, bytes), as a browser sends it.
async fn post_multipart(
    app: &TestApp,
    path: &str,
    cookie: &str,
    fields: &[(&str, &str)],
    file: Option<(&str, &str, &[u8])>,
) -> Page {
    post_file(app, path, cookie, fields, "logo", file).await
}

/// Renders `invoice` of `t` as a worker would.
async fn render(app: &TestApp, t: &Tenant, invoice: &str) {
    app.run_job(nestogy_jobs::documents::Render {
        tenant: t.id,
        doc: nestogy_domain::billing::documents::DocRef::Invoice {
            id: invoice.parse().unwrap(),
        },
    })
    .await
    .expect("render");
}

/// An admin's session and a tech's and an accountant's of the same company.
pub(crate) async fn sessions(
    app: &TestApp,
    t: &Tenant,
    company: &str,
) -> (Session, Session, Session) {
    let admin = sign_in(app, &admin_email(company)).await;
    let (_, tech) = user(app, &t.admin, "tech").await;
    let (_, accountant) = user(app, &t.admin, "accountant").await;
    (
        admin,
        sign_in(app, &tech).await,
        sign_in(app, &accountant).await,
    )
}

#[tokio::test]
async fn settings_are_for_admins_only() {
    let app = TestApp::new().await;
    let t = app.tenant("Settings MSP").await;
    let other = app.tenant("Other Settings MSP").await;
    let r = app
        .patch(
            "/api/v1/company",
            &other.admin,
            json!({"name": "Other Settings MSP renamed"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let (admin, tech, accountant) = sessions(&app, &t, "Settings MSP").await;

    let index = get(&app, "/console/settings", &admin.cookie).await;
    assert_eq!(index.status, StatusCode::OK, "{}", index.html);
    assert_eq!(index.title(), "Settings · Nestogy");
    assert!(index.html.contains("aria-current=\"page\">Settings"));
    for href in ["/console/settings/company", "/console/settings/branding"] {
        assert!(index.html.contains(&format!("href=\"{href}\"")), "{href}");
    }
    assert!(index.has_id("queue-dashboard"));
    // The latest changes are the tenant's: the user made for the tech is
    // there, the other company's rename is not.
    assert!(index.html.contains("user.created"), "{}", index.html);
    assert!(!index.html.contains("company.updated"));

    let home = get(&app, "/console", &tech.cookie).await;
    assert!(!home.html.contains("href=\"/console/settings\""));
    for s in [&tech, &accountant] {
        for path in [
            "/console/settings",
            "/console/settings/company",
            "/console/settings/branding",
        ] {
            let p = get(&app, path, &s.cookie).await;
            assert_eq!(p.status, StatusCode::FORBIDDEN, "{path}: {}", p.html);
            assert!(p.title().starts_with("Not allowed"), "{path}");
        }
    }
}

#[tokio::test]
async fn company_page_changes_the_company() {
    let app = TestApp::new().await;
    let t = app.tenant("Company Page MSP").await;
    app.tenant("Rival Company MSP").await;
    let (admin, tech, _) = sessions(&app, &t, "Company Page MSP").await;
    let path = "/console/settings/company";

    let page = get(&app, path, &admin.cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert_eq!(page.title(), "Company · Nestogy");
    assert_form_has_csrf(&page, "company-form");
    assert!(page.html.contains("value=\"Company Page MSP\""));
    assert!(page.html.contains("value=\"Europe/Berlin\""));
    assert!(page.html.contains("<option value=\"de-DE\""));
    assert!(!page.html.contains("Rival Company MSP"));
    let csrf = page.csrf();
    let fields = |name: &'static str, tz: &'static str| {
        vec![
            ("name", name),
            ("time_zone", tz),
            ("currency", "EUR"),
            ("locale", "de-DE"),
            ("line1", "Hauptstraße 1"),
            ("city", "Berlin"),
            ("country", "de"),
        ]
    };

    // Without the token: refused, nothing changed.
    let no_token = post(&app, path, &admin.cookie, &fields("Sneaky", "UTC")).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    // A time zone that is none: the API's message, what was typed kept.
    let mut bad = fields("Company Renamed", "Mars/Olympus");
    bad.push(("csrf", &csrf));
    let bad = post(&app, path, &admin.cookie, &bad).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.html);
    assert!(bad.html.contains("IANA time zone"), "{}", bad.html);
    assert!(bad.html.contains("value=\"Mars/Olympus\""));
    assert!(bad.html.contains("value=\"Company Renamed\""));
    assert!(bad.html.contains("class=\"field-problem\""));
    let now = app.get("/api/v1/company", &t.admin).await;
    assert_eq!(now.body["name"], "Company Page MSP");

    let mut good = fields("Company Renamed", "America/New_York");
    good.push(("csrf", &csrf));
    let ok = post(&app, path, &admin.cookie, &good).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.html);
    assert_eq!(ok.location(), path);
    let now = app.get("/api/v1/company", &t.admin).await;
    assert_eq!(now.body["name"], "Company Renamed");
    assert_eq!(now.body["time_zone"], "America/New_York");
    assert_eq!(now.body["locale"], "de-DE");
    assert_eq!(now.body["address"]["city"], "Berlin");
    assert_eq!(now.body["address"]["country"], "DE");
    let again = get(&app, path, &admin.cookie).await;
    assert!(again.html.contains("value=\"America/New_York\""));
    assert!(
        again.html.contains("company.updated"),
        "the change is listed"
    );
    assert!(again.html.contains("<option value=\"de-DE\" selected"));

    // A tech may read the company through the API, not this page nor its form.
    let refused = post(
        &app,
        path,
        &tech.cookie,
        &[
            ("csrf", &get(&app, "/console", &tech.cookie).await.csrf()),
            ("name", "By a tech"),
            ("time_zone", "UTC"),
            ("currency", "EUR"),
            ("locale", "en-US"),
        ],
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.html);
    let now = app.get("/api/v1/company", &t.admin).await;
    assert_eq!(now.body["name"], "Company Renamed");
}

#[tokio::test]
async fn branding_uploads_a_logo_and_previews_the_newest_invoice() {
    let app = TestApp::new().await;
    let t = app.tenant("Brand MSP").await;
    let other = app.tenant("Other Brand MSP").await;
    let (admin, tech, _) = sessions(&app, &t, "Brand MSP").await;
    let path = "/console/settings/branding";

    // No logo, no invoice yet.
    let page = get(&app, path, &admin.cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert_eq!(page.title(), "Branding · Nestogy");
    assert!(page.has_id("no-logo"));
    assert!(page.has_id("branding-preview"));
    assert!(page.has_id("preview-none"));
    assert_form_has_csrf(&page, "logo-form");
    assert_form_has_csrf(&page, "brand-form");
    assert!(page.html.contains("enctype=\"multipart/form-data\""));
    assert!(page.has_id("logo-file"));
    let csp = page.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(csp.contains("frame-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let csrf = page.csrf();

    // The preview is the tenant's newest invoice, rendered by the API.
    let client = app
        .billed_client(&t.admin, "Preview Client", "ap@preview.example")
        .await;
    let invoice = app
        .open_invoice(&t.admin, &client, "Our own managed backup")
        .await;
    let theirs = app
        .billed_client(&other.admin, "Their Client", "ap@their.example")
        .await;
    let their_invoice = app
        .open_invoice(&other.admin, &theirs, "Their secret service")
        .await;
    render(&app, &other, &their_invoice).await;
    let rendering = get(&app, path, &admin.cookie).await;
    assert!(rendering.has_id("preview-rendering"), "{}", rendering.html);
    render(&app, &t, &invoice).await;
    let ready = get(&app, path, &admin.cookie).await;
    let before = attr(&ready, "preview-frame", "src");
    assert!(
        before.starts_with("/console/settings/branding/preview.pdf?v="),
        "{before}"
    );
    let pdf = get(&app, &before, &admin.cookie).await;
    assert_eq!(pdf.status, StatusCode::OK);
    assert_eq!(pdf.headers["content-type"], "application/pdf");
    let (status, _, bytes) = {
        // The PDF's bytes (the page helper reads text).
        let r = app
            .web
            .clone()
            .oneshot(
                Request::get(&before)
                    .header(header::COOKIE, &admin.cookie)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let s = r.status();
        let h = r.headers().clone();
        (
            s,
            h,
            axum::body::to_bytes(r.into_body(), usize::MAX)
                .await
                .unwrap(),
        )
    };
    assert_eq!(status, StatusCode::OK);
    let (text, _) = pdf_text(&bytes);
    assert!(text.contains("Our own managed backup"), "{text}");
    assert!(!text.contains("Their secret service"));

    // The logo form without its token: refused before the API sees the file.
    let no_token = post_multipart(
        &app,
        "/console/settings/branding/logo",
        &admin.cookie,
        &[],
        Some(("logo.png", "image/png", PNG)),
    )
    .await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN, "{}", no_token.html);
    let wrong = post_multipart(
        &app,
        "/console/settings/branding/logo",
        &admin.cookie,
        &[("csrf", "00ff")],
        Some(("logo.png", "image/png", PNG)),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.get("/api/v1/company/logo", &t.admin).await.status,
        StatusCode::NOT_FOUND
    );
    // A urlencoded post is not the upload.
    let not_multipart = post(
        &app,
        "/console/settings/branding/logo",
        &admin.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(not_multipart.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // Not an image: the API's reason on the page.
    let bad = post_multipart(
        &app,
        "/console/settings/branding/logo",
        &admin.cookie,
        &[("csrf", &csrf)],
        Some(("logo.png", "image/png", b"not a png at all")),
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.html);
    assert!(bad.html.contains("not a PNG"), "{}", bad.html);
    assert!(bad.has_id("logo-form"));

    // A PNG: uploaded, shown, and the preview renders again with it.
    let ok = post_multipart(
        &app,
        "/console/settings/branding/logo",
        &admin.cookie,
        &[("csrf", &csrf)],
        Some(("logo.png", "image/png", PNG)),
    )
    .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.html);
    assert_eq!(ok.location(), path);
    let (status, headers, got) = app.get_bytes("/api/v1/company/logo", &t.admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "image/png");
    assert_eq!(got, PNG);
    let with_logo = get(&app, path, &admin.cookie).await;
    let src = attr(&with_logo, "current-logo", "src");
    assert!(
        src.starts_with("/console/settings/branding/logo?v="),
        "{src}"
    );
    assert!(
        with_logo.has_id("preview-rendering"),
        "a new logo is a new rendering"
    );
    let img = get(&app, &src, &admin.cookie).await;
    assert_eq!(img.status, StatusCode::OK);
    assert_eq!(img.headers["content-type"], "image/png");
    assert!(
        img.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("sandbox")
    );
    render(&app, &t, &invoice).await;
    let after = attr(
        &get(&app, path, &admin.cookie).await,
        "preview-frame",
        "src",
    );
    assert_ne!(before, after, "the preview's address follows the rendering");

    // An SVG replaces it: the logo's address changes with it.
    let svg = post_multipart(
        &app,
        "/console/settings/branding/logo",
        &admin.cookie,
        &[("csrf", &csrf)],
        Some(("logo.svg", "image/svg+xml", SVG.as_bytes())),
    )
    .await;
    assert_eq!(svg.status, StatusCode::SEE_OTHER, "{}", svg.html);
    let src2 = attr(&get(&app, path, &admin.cookie).await, "current-logo", "src");
    assert_ne!(src, src2);

    // The brand fields: a bad colour re-rendered, then saved.
    let bad = post(
        &app,
        path,
        &admin.cookie,
        &[
            ("csrf", &csrf),
            ("accent_color", "blue-ish"),
            ("footer", "Registergericht Berlin"),
        ],
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.html);
    assert!(
        bad.html.contains("accent_color must be a colour"),
        "{}",
        bad.html
    );
    assert!(bad.html.contains("Registergericht Berlin"), "kept");
    let no_token = post(&app, path, &admin.cookie, &[("accent_color", "#112233")]).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    let saved = post(
        &app,
        path,
        &admin.cookie,
        &[
            ("csrf", &csrf),
            ("accent_color", "#C0392B"),
            ("tax_id", "DE123456789"),
            ("footer", "Registergericht Berlin"),
            ("payment_instructions", "IBAN DE89 3704 0044 0532 0130 00"),
        ],
    )
    .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    let co = app.get("/api/v1/company", &t.admin).await;
    assert_eq!(co.body["branding"]["accent_color"], "#c0392b");
    assert_eq!(co.body["branding"]["tax_id"], "DE123456789");
    assert_eq!(
        app.get("/api/v1/company", &other.admin).await.body["branding"],
        json!({}),
        "the other company's branding is its own"
    );

    // A tech cannot upload (the API's 403), and the logo stays.
    let tech_page = get(&app, "/console", &tech.cookie).await;
    let refused = post_multipart(
        &app,
        "/console/settings/branding/logo",
        &tech.cookie,
        &[("csrf", &tech_page.csrf())],
        Some(("logo.png", "image/png", PNG)),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.html);
    assert_eq!(
        app.get_bytes("/api/v1/company/logo", &t.admin).await.2,
        SVG.as_bytes()
    );

    // Remove the logo.
    let gone = post(
        &app,
        "/console/settings/branding/logo/delete",
        &admin.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(gone.status, StatusCode::SEE_OTHER, "{}", gone.html);
    assert_eq!(
        app.get("/api/v1/company/logo", &t.admin).await.status,
        StatusCode::NOT_FOUND
    );
    assert!(get(&app, path, &admin.cookie).await.has_id("no-logo"));
}

#[tokio::test]
async fn users_page_creates_changes_and_deactivates_users() {
    let app = TestApp::new().await;
    let t = app.tenant("Users MSP").await;
    let other = app.tenant("Rival Users MSP").await;
    let (their_id, their_email) = user(&app, &other.admin, "tech").await;
    let (admin, tech, _) = sessions(&app, &t, "Users MSP").await;
    let path = "/console/settings/users";

    let page = get(&app, path, &admin.cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert_eq!(page.title(), "Users · Nestogy");
    assert!(page.html.contains("admin@users-msp.example"));
    assert!(!page.html.contains(&their_email));
    assert!(!page.html.contains(&their_id));
    assert_form_has_csrf(&page, "new-user-form");
    let csrf = page.csrf();
    assert!(page.html.contains(">3 users<"), "admin, tech, accountant");
    // The filters are the API's.
    let techs = get(&app, &format!("{path}?role=tech"), &admin.cookie).await;
    assert!(techs.html.contains(">1 users<"), "{}", techs.html);

    // New user: without a token, a short password (422), then made.
    let new = |password: &'static str| {
        let password = if password == "long" {
            PASSWORD
        } else {
            password
        };
        vec![
            ("name", "Nia <Newcomer>"),
            ("email", "nia@users.example"),
            ("role", "accountant"),
            ("password", password),
        ]
    };
    let no_token = post(&app, path, &admin.cookie, &new("long")).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    let mut short = new("short");
    short.push(("csrf", &csrf));
    let bad = post(&app, path, &admin.cookie, &short).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.html);
    assert!(bad.html.contains("value=\"nia@users.example\""));
    assert!(bad.html.contains("class=\"field-problem\""), "{}", bad.html);
    assert!(
        !bad.html.contains("value=\"short\""),
        "passwords are not echoed"
    );
    let mut good = new("long");
    good.push(("csrf", &csrf));
    let ok = post(&app, path, &admin.cookie, &good).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.html);
    let found = app.get("/api/v1/users?q=nia", &t.admin).await;
    assert_eq!(found.body["total"], 1, "{}", found.body);
    let nia = found.body["data"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(found.body["data"][0]["role"], "accountant");
    assert!(ok.location().ends_with(&format!("#user-{nia}")));
    let list = get(&app, path, &admin.cookie).await;
    assert!(list.html.contains("Nia &lt;Newcomer&gt;"));
    assert!(list.has_id(&format!("deactivate-{nia}")));
    // She signs in with that password.
    sign_in(&app, "nia@users.example").await;

    // Change her role.
    let role_path = format!("{path}/{nia}/role");
    let no_token = post(&app, &role_path, &admin.cookie, &[("role", "admin")]).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    let r = post(
        &app,
        &role_path,
        &admin.cookie,
        &[("csrf", &csrf), ("role", "tech")],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    let u = app.get(&format!("/api/v1/users/{nia}"), &t.admin).await;
    assert_eq!(u.body["role"], "tech");

    // Deactivate and reactivate.
    let r = post(
        &app,
        &format!("{path}/{nia}/deactivate"),
        &admin.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    let u = app.get(&format!("/api/v1/users/{nia}"), &t.admin).await;
    assert_eq!(u.body["active"], false);
    let list = get(&app, path, &admin.cookie).await;
    assert!(list.has_id(&format!("reactivate-{nia}")));
    let r = post(
        &app,
        &format!("{path}/{nia}/reactivate"),
        &admin.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    let u = app.get(&format!("/api/v1/users/{nia}"), &t.admin).await;
    assert_eq!(u.body["active"], true);

    // The last admin stays an admin: the API's 409 on the page.
    let me = t.admin_id.to_string();
    let r = post(
        &app,
        &format!("{path}/{me}/role"),
        &admin.cookie,
        &[("csrf", &csrf), ("role", "tech")],
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.html);
    assert!(r.has_id("problem"));
    assert!(r.has_id("users"), "the list again");

    // Another tenant's user: the 404 page, and nothing changes.
    let r = post(
        &app,
        &format!("{path}/{their_id}/deactivate"),
        &admin.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.html);
    let theirs = app
        .get(&format!("/api/v1/users/{their_id}"), &other.admin)
        .await;
    assert_eq!(theirs.body["active"], true);
    let junk = post(
        &app,
        &format!("{path}/not-an-id/deactivate"),
        &admin.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(junk.status, StatusCode::NOT_FOUND);

    // A tech gets the API's 403.
    let p = get(&app, path, &tech.cookie).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn tokens_page_shows_a_secret_once_and_revokes() {
    let app = TestApp::new().await;
    let t = app.tenant("Tokens MSP").await;
    let other = app.tenant("Rival Tokens MSP").await;
    let theirs = app
        .post(
            "/api/v1/api-tokens",
            &other.admin,
            json!({"name": "Their RMM", "scopes": ["tickets:read"]}),
        )
        .await;
    assert_eq!(theirs.status, StatusCode::CREATED, "{}", theirs.body);
    let their_id = theirs.id();
    let (admin, tech, _) = sessions(&app, &t, "Tokens MSP").await;
    let path = "/console/settings/tokens";

    let page = get(&app, path, &admin.cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert_eq!(page.title(), "API tokens · Nestogy");
    assert_form_has_csrf(&page, "new-token-form");
    assert!(!page.html.contains("Their RMM"));
    let csrf = page.csrf();

    let no_token = post(
        &app,
        path,
        &admin.cookie,
        &[("name", "PSA sync"), ("scope", "tickets:read")],
    )
    .await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    // No scope: the API's message, the name kept.
    let bad = post(
        &app,
        path,
        &admin.cookie,
        &[("csrf", &csrf), ("name", "PSA sync")],
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.html);
    assert!(bad.html.contains("value=\"PSA sync\""));
    assert!(!bad.has_id("new-token-secret"));

    let made = post(
        &app,
        path,
        &admin.cookie,
        &[
            ("csrf", &csrf),
            ("name", "PSA sync"),
            ("scope", "tickets:read"),
            ("scope", "clients:read"),
            ("expires_on", "2026-12-31"),
        ],
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.html);
    let secret = attr(&made, "new-token-secret", "value");
    assert!(secret.len() > 20, "{secret}");
    // The secret works, with its scopes.
    let r = app.get("/api/v1/tickets", &secret).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app.get("/api/v1/invoices", &secret).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let listed = app.get("/api/v1/api-tokens", &t.admin).await;
    let token = &listed.body["data"][0];
    assert_eq!(token["name"], "PSA sync");
    assert_eq!(token["scopes"], json!(["clients:read", "tickets:read"]));
    // The last day ends at the next midnight in Berlin.
    assert_eq!(token["expires_at"], "2026-12-31T23:00:00Z");
    let id = token["id"].as_str().unwrap().to_owned();
    // Never shown again.
    let again = get(&app, path, &admin.cookie).await;
    assert!(!again.html.contains(&secret));
    assert!(again.has_id(&format!("token-{id}")));
    assert!(again.html.contains("tickets:read"));

    // Revoke: the other tenant's is not found; ours stops working.
    let r = post(
        &app,
        &format!("{path}/{their_id}/revoke"),
        &admin.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.html);
    let no_token = post(&app, &format!("{path}/{id}/revoke"), &admin.cookie, &[]).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    let r = post(
        &app,
        &format!("{path}/{id}/revoke"),
        &admin.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    assert_eq!(
        app.get("/api/v1/tickets", &secret).await.status,
        StatusCode::UNAUTHORIZED
    );
    let after = get(&app, path, &admin.cookie).await;
    assert!(!after.has_id(&format!("revoke-{id}")));
    assert!(after.html.contains("revoked"));
    assert_eq!(
        get(&app, path, &tech.cookie).await.status,
        StatusCode::FORBIDDEN
    );
}

/// A message of `mailbox` held back with `outcome` (as ingestion records
/// one), seeded through the domain.
async fn held_message(
    app: &TestApp,
    t: &Tenant,
    mailbox: &str,
    uid: i64,
    subject: &str,
    outcome: nestogy_domain::service_desk::inbound::Outcome,
    reason: &str,
) -> String {
    use nestogy_domain::service_desk::inbound;
    let mut tx = app.db.tenant(t.id).await.unwrap();
    let id = inbound::claim(
        &mut tx,
        &inbound::Arrival {
            mailbox_id: mailbox.parse().unwrap(),
            uidvalidity: 1,
            uid,
            message_id: Some(format!("<{uid}@held.example>")),
            content_hash: format!("hash-{uid}"),
            raw_key: format!("raw/{uid}"),
            size_bytes: 100,
            from_address: Some("robot@held.example".into()),
            subject: Some(subject.into()),
        },
    )
    .await
    .unwrap()
    .expect("claimed");
    inbound::settle(&mut tx, id, outcome, None, Some(reason), None)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    id.to_string()
}

#[tokio::test]
async fn mailboxes_connect_test_and_reprocess() {
    use nestogy_domain::service_desk::inbound::Outcome;
    let app = TestApp::new().await;
    let t = app.tenant("Mailbox MSP").await;
    let other = app.tenant("Rival Mailbox MSP").await;
    let theirs = app
        .post(
            "/api/v1/mailboxes",
            &other.admin,
            json!({"name": "Their desk", "address": "desk@their.example", "host": "127.0.0.1",
                   "port": 1, "tls": "none", "username": "u", "password": "their-secret-pw"}),
        )
        .await;
    assert_eq!(theirs.status, StatusCode::CREATED, "{}", theirs.body);
    let their_id = theirs.id();
    let (admin, tech, _) = sessions(&app, &t, "Mailbox MSP").await;
    let path = "/console/settings/mailboxes";

    let list = get(&app, path, &admin.cookie).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.html);
    assert_eq!(list.title(), "Mailboxes · Nestogy");
    assert_form_has_csrf(&list, "new-mailbox-form");
    assert!(!list.html.contains("Their desk"));
    let csrf = list.csrf();
    let fields = |address: &'static str| {
        vec![
            ("name", "Support desk"),
            ("address", address),
            ("host", "127.0.0.1"),
            ("port", "1"),
            ("tls", "none"),
            ("username", "support"),
            ("password", "imap-secret-pw"),
            ("folder", "INBOX"),
            ("unknown_senders", "quarantine"),
            ("closed_replies", "reopen"),
            ("automated_mail", "ignore"),
            ("enabled", "true"),
        ]
    };
    let no_token = post(&app, path, &admin.cookie, &fields("desk@msp.example")).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    let mut bad = fields("not an address");
    bad.push(("csrf", &csrf));
    let bad = post(&app, path, &admin.cookie, &bad).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.html);
    assert!(bad.html.contains("value=\"Support desk\""));
    assert!(
        !bad.html.contains("imap-secret-pw"),
        "the password is not echoed"
    );
    let mut good = fields("desk@msp.example");
    good.push(("csrf", &csrf));
    let made = post(&app, path, &admin.cookie, &good).await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.html);
    let id = made
        .location()
        .trim_start_matches("/console/settings/mailboxes/")
        .to_owned();
    let m = app.get(&format!("/api/v1/mailboxes/{id}"), &t.admin).await;
    assert_eq!(m.status, StatusCode::OK, "{}", m.body);
    assert_eq!(m.body["address"], "desk@msp.example");
    assert_eq!(m.body["unknown_senders"], "quarantine");
    assert_eq!(m.body["closed_replies"], "reopen");
    assert_eq!(m.body["port"], 1);

    let mpath = format!("{path}/{id}");
    let page = get(&app, &mpath, &admin.cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert_eq!(page.title(), "Support desk · Nestogy");
    assert!(!page.html.contains("imap-secret-pw"));
    for form in ["edit-mailbox", "test-connection"] {
        assert!(page.has_id(form), "{form}");
    }
    assert_form_has_csrf(&page, "edit-mailbox");
    let nope = get(&app, &format!("{path}/{their_id}"), &admin.cookie).await;
    assert_eq!(nope.status, StatusCode::NOT_FOUND);
    assert!(!nope.html.contains("Their desk"));

    // Edit: the password left empty stays as stored.
    let mut edit = fields("desk@msp.example");
    edit[0] = ("name", "Helpdesk");
    edit[6] = ("password", "");
    edit.push(("csrf", &csrf));
    let saved = post(&app, &mpath, &admin.cookie, &edit).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    let m = app.get(&format!("/api/v1/mailboxes/{id}"), &t.admin).await;
    assert_eq!(m.body["name"], "Helpdesk");
    let sealed: i64 = sqlx::query_scalar(
        "SELECT length(password_enc)::bigint FROM mailboxes WHERE id = $1::uuid",
    )
    .bind(&id)
    .fetch_one(&app.owner)
    .await
    .unwrap();
    assert!(sealed > 0, "the stored password stays");
    let mut bad = edit.clone();
    bad[2] = ("host", "");
    let bad = post(&app, &mpath, &admin.cookie, &bad).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.html);
    assert!(bad.has_id("edit-mailbox"));

    // The connection test: a job, whose result the page shows.
    let no_token = post(&app, &format!("{mpath}/test"), &admin.cookie, &[]).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    let queued = post(
        &app,
        &format!("{mpath}/test"),
        &admin.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(queued.status, StatusCode::SEE_OTHER, "{}", queued.html);
    let result = queued.location().trim_end_matches("#test").to_owned();
    assert!(result.starts_with(&format!("{mpath}?test=")), "{result}");
    let waiting = get(&app, &result, &admin.cookie).await;
    assert_eq!(waiting.status, StatusCode::OK, "{}", waiting.html);
    assert!(
        waiting.html.contains("data-state=\"queued\""),
        "{}",
        waiting.html
    );
    let worker = app.start_worker();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let done = loop {
        let p = get(&app, &result, &admin.cookie).await;
        if p.html.contains("data-state=\"dead\"") {
            break p;
        }
        assert!(std::time::Instant::now() < deadline, "{}", p.html);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    worker.stop().await;
    assert!(done.html.contains("The connection failed"), "{}", done.html);

    // Held messages: listed, and reprocessed through the API's job.
    let q = held_message(
        &app,
        &t,
        &id,
        7,
        "Who am I?",
        Outcome::Quarantined,
        "unknown sender",
    )
    .await;
    let i = held_message(
        &app,
        &t,
        &id,
        8,
        "Out of office",
        Outcome::Ignored,
        "auto-reply",
    )
    .await;
    let page = get(&app, &mpath, &admin.cookie).await;
    assert!(page.has_id(&format!("quarantine-{q}")), "{}", page.html);
    assert!(page.has_id(&format!("ignored-{i}")));
    assert!(page.html.contains("unknown sender"));
    let no_token = post(
        &app,
        &format!("{mpath}/quarantine/{q}/reprocess"),
        &admin.cookie,
        &[],
    )
    .await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    for (kind, m) in [("quarantine", &q), ("ignored", &i)] {
        let r = post(
            &app,
            &format!("{mpath}/{kind}/{m}/reprocess"),
            &admin.cookie,
            &[("csrf", &csrf)],
        )
        .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{kind}: {}", r.html);
    }
    let jobs = app
        .get("/api/v1/jobs?kind=mailboxes.reprocess", &t.admin)
        .await;
    assert_eq!(jobs.body["total"], 2, "{}", jobs.body);
    // Another tenant's mailbox: 404.
    let r = post(
        &app,
        &format!("{path}/{their_id}/quarantine/{q}/reprocess"),
        &admin.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    assert_eq!(
        get(&app, path, &tech.cookie).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn sla_policies_and_holidays() {
    let app = TestApp::new().await;
    let t = app.tenant("Sla MSP").await;
    let other = app.tenant("Rival Sla MSP").await;
    let r = app
        .call(
            Method::PUT,
            "/api/v1/sla/holidays/2026-07-04",
            Some(&other.admin),
            Some(json!({"name": "Their holiday"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let (admin, tech, _) = sessions(&app, &t, "Sla MSP").await;
    let path = "/console/settings/sla";

    let page = get(&app, path, &admin.cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert_eq!(page.title(), "SLA policies · Nestogy");
    for p in ["critical", "high", "medium", "low"] {
        assert_form_has_csrf(&page, &format!("policy-form-{p}"));
    }
    assert_form_has_csrf(&page, "holiday-form");
    assert!(!page.html.contains("Their holiday"));
    let csrf = page.csrf();
    let policy = |resolution: &'static str| {
        vec![
            ("first_response_minutes", "60"),
            ("resolution_minutes", resolution),
            ("warn_percent", "75"),
            ("use_holidays", "true"),
            ("pause", "waiting_on_client"),
            ("pause", "new"),
            ("hours_only", "true"),
            ("mon_from", "09:00"),
            ("mon_to", "17:00"),
            ("fri_from", "08:00"),
            ("fri_to", "12:00"),
        ]
    };
    let high = format!("{path}/high");
    let no_token = post(&app, &high, &admin.cookie, &policy("480")).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    let mut bad = policy("0");
    bad.push(("csrf", &csrf));
    let bad = post(&app, &high, &admin.cookie, &bad).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.html);
    assert!(bad.html.contains("resolution_minutes"), "{}", bad.html);
    assert!(
        bad.html.contains("value=\"08:00\""),
        "what was typed is kept"
    );
    let mut good = policy("480");
    good.push(("csrf", &csrf));
    let ok = post(&app, &high, &admin.cookie, &good).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.html);
    let policies = app.get("/api/v1/sla/policies", &t.admin).await;
    let p = policies
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["priority"] == "high")
        .cloned()
        .expect("the high policy");
    assert_eq!(p["first_response_minutes"], 60);
    assert_eq!(p["resolution_minutes"], 480);
    assert_eq!(p["warn_percent"], 75);
    assert_eq!(p["business_hours"]["mon"], json!(["09:00", "17:00"]));
    assert_eq!(p["business_hours"]["fri"], json!(["08:00", "12:00"]));
    assert!(p["business_hours"]["sat"].is_null());
    assert_eq!(p["pause_statuses"], json!(["waiting_on_client", "new"]));
    let again = get(&app, path, &admin.cookie).await;
    assert!(again.html.contains("sla.policy_set"));
    assert!(again.has_id("delete-policy-high"));
    // Around the clock: business hours cleared.
    let around = post(
        &app,
        &high,
        &admin.cookie,
        &[
            ("csrf", &csrf),
            ("first_response_minutes", "30"),
            ("resolution_minutes", "240"),
            ("warn_percent", "80"),
        ],
    )
    .await;
    assert_eq!(around.status, StatusCode::SEE_OTHER, "{}", around.html);
    let policies = app.get("/api/v1/sla/policies", &t.admin).await;
    let p = policies
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["priority"] == "high")
        .cloned()
        .unwrap();
    assert!(p["business_hours"].is_null(), "{p}");
    assert_eq!(p["use_holidays"], false);
    // Removed.
    let gone = post(
        &app,
        &format!("{high}/delete"),
        &admin.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(gone.status, StatusCode::SEE_OTHER, "{}", gone.html);
    let policies = app.get("/api/v1/sla/policies", &t.admin).await;
    assert!(
        !policies
            .body
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["priority"] == "high"),
        "{}",
        policies.body
    );
    let junk = post(&app, &format!("{path}/urgentest"), &admin.cookie, &good).await;
    assert_eq!(junk.status, StatusCode::NOT_FOUND);

    // Holidays.
    let holidays = format!("{path}/holidays");
    let no_token = post(
        &app,
        &holidays,
        &admin.cookie,
        &[("day", "2026-12-25"), ("name", "X")],
    )
    .await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    let bad = post(
        &app,
        &holidays,
        &admin.cookie,
        &[("csrf", &csrf), ("day", "2026-12-25"), ("name", "")],
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.html);
    assert!(bad.html.contains("value=\"2026-12-25\""));
    let ok = post(
        &app,
        &holidays,
        &admin.cookie,
        &[
            ("csrf", &csrf),
            ("day", "2026-12-25"),
            ("name", "Christmas <Day>"),
        ],
    )
    .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.html);
    let list = app.get("/api/v1/sla/holidays", &t.admin).await;
    assert_eq!(
        list.body,
        json!([{"day": "2026-12-25", "name": "Christmas <Day>"}])
    );
    let page = get(&app, path, &admin.cookie).await;
    assert!(page.has_id("holiday-2026-12-25"));
    assert!(page.html.contains("Christmas &lt;Day&gt;"));
    // Berlin writes dates the German way? The company's locale is en-US
    // by default; the date goes through the formatter either way.
    assert!(!page.html.contains("Their holiday"));
    let gone = post(
        &app,
        &format!("{holidays}/2026-12-25/delete"),
        &admin.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(gone.status, StatusCode::SEE_OTHER, "{}", gone.html);
    assert_eq!(
        app.get("/api/v1/sla/holidays", &t.admin).await.body,
        json!([])
    );
    // The other tenant's holiday is not ours to remove.
    let theirs = post(
        &app,
        &format!("{holidays}/2026-07-04/delete"),
        &admin.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get("/api/v1/sla/holidays", &other.admin).await.body[0]["name"],
        "Their holiday"
    );

    assert_eq!(
        get(&app, path, &tech.cookie).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn webhooks_endpoints_ping_rotate_and_redeliver() {
    let app = TestApp::new().await;
    let t = app.tenant("Hooks MSP").await;
    let other = app.tenant("Rival Hooks MSP").await;
    let theirs = app
        .post(
            "/api/v1/webhooks/endpoints",
            &other.admin,
            json!({"url": "https://their-hooks.example.com/in", "event_types": ["*"]}),
        )
        .await;
    assert_eq!(theirs.status, StatusCode::CREATED, "{}", theirs.body);
    let their_id = theirs.id();
    let (admin, tech, _) = sessions(&app, &t, "Hooks MSP").await;
    let path = "/console/settings/webhooks";

    let page = get(&app, path, &admin.cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert_eq!(page.title(), "Webhooks · Nestogy");
    assert_form_has_csrf(&page, "new-endpoint-form");
    assert!(!page.html.contains("their-hooks"));
    let csrf = page.csrf();

    let no_token = post(
        &app,
        path,
        &admin.cookie,
        &[("url", "https://hooks.example.com/in"), ("event", "*")],
    )
    .await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    let bad = post(
        &app,
        path,
        &admin.cookie,
        &[
            ("csrf", &csrf),
            ("url", "ftp://hooks.example.com/in"),
            ("event", "ticket.created"),
        ],
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.html);
    assert!(bad.html.contains("value=\"ftp://hooks.example.com/in\""));
    assert!(!bad.has_id("new-secret"));
    let made = post(
        &app,
        path,
        &admin.cookie,
        &[
            ("csrf", &csrf),
            ("url", "https://hooks.example.com/in"),
            ("description", "PSA"),
            ("event", "ticket.created"),
            ("event", "invoice.paid"),
        ],
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.html);
    let secret = attr(&made, "new-secret", "value");
    assert!(secret.starts_with("whsec_"), "{secret}");
    let listed = app.get("/api/v1/webhooks/endpoints", &t.admin).await;
    assert_eq!(listed.body["total"], 1, "{}", listed.body);
    let ep = &listed.body["data"][0];
    assert_eq!(ep["event_types"], json!(["invoice.paid", "ticket.created"]));
    let id = ep["id"].as_str().unwrap().to_owned();
    assert!(!get(&app, path, &admin.cookie).await.html.contains(&secret));

    let epath = format!("{path}/{id}");
    let page = get(&app, &epath, &admin.cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert_form_has_csrf(&page, "edit-endpoint");
    for b in ["disable-endpoint", "ping-endpoint", "rotate-secret"] {
        assert!(page.has_id(b), "{b}");
    }
    let nope = get(&app, &format!("{path}/{their_id}"), &admin.cookie).await;
    assert_eq!(nope.status, StatusCode::NOT_FOUND);
    let nope = post(
        &app,
        &format!("{path}/{their_id}/ping"),
        &admin.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(nope.status, StatusCode::NOT_FOUND);

    // Edit: a bad event refused, then saved.
    let bad = post(
        &app,
        &epath,
        &admin.cookie,
        &[
            ("csrf", &csrf),
            ("url", "https://hooks.example.com/in"),
            ("event", "no.such.event"),
        ],
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.html);
    let saved = post(
        &app,
        &epath,
        &admin.cookie,
        &[
            ("csrf", &csrf),
            ("url", "https://hooks.example.com/v2"),
            ("event", "*"),
        ],
    )
    .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    let ep = app
        .get(&format!("/api/v1/webhooks/endpoints/{id}"), &t.admin)
        .await;
    assert_eq!(ep.body["url"], "https://hooks.example.com/v2");
    assert!(ep.body["description"].is_null());

    // Disable and enable.
    for (action, enabled) in [("disable", false), ("enable", true)] {
        let no_token = post(&app, &format!("{epath}/{action}"), &admin.cookie, &[]).await;
        assert_eq!(no_token.status, StatusCode::FORBIDDEN);
        let r = post(
            &app,
            &format!("{epath}/{action}"),
            &admin.cookie,
            &[("csrf", &csrf)],
        )
        .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{action}: {}", r.html);
        let ep = app
            .get(&format!("/api/v1/webhooks/endpoints/{id}"), &t.admin)
            .await;
        assert_eq!(ep.body["enabled"], enabled, "{action}");
    }

    // Ping: a delivery in the log, with its attempts and redeliver.
    let r = post(
        &app,
        &format!("{epath}/ping"),
        &admin.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    let log = app
        .get(
            &format!("/api/v1/webhooks/endpoints/{id}/deliveries"),
            &t.admin,
        )
        .await;
    assert_eq!(log.body["total"], 1, "{}", log.body);
    assert_eq!(log.body["data"][0]["event_type"], "webhook.ping");
    let delivery = log.body["data"][0]["id"].as_str().unwrap().to_owned();
    let page = get(&app, &format!("{epath}?delivery={delivery}"), &admin.cookie).await;
    assert!(
        page.has_id(&format!("delivery-{delivery}")),
        "{}",
        page.html
    );
    assert!(page.has_id("attempts"));
    assert!(page.html.contains("webhook.ping"));
    let no_token = post(
        &app,
        &format!("{epath}/deliveries/{delivery}/redeliver"),
        &admin.cookie,
        &[],
    )
    .await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    let r = post(
        &app,
        &format!("{epath}/deliveries/{delivery}/redeliver"),
        &admin.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert!(
        r.status == StatusCode::SEE_OTHER || r.status == StatusCode::CONFLICT,
        "{}: {}",
        r.status,
        r.html
    );
    let audit = app
        .get(
            "/api/v1/audit?action=webhook_delivery.redelivered",
            &t.admin,
        )
        .await;
    if r.status == StatusCode::SEE_OTHER {
        assert_eq!(audit.body["total"], 1, "{}", audit.body);
    }

    // Rotate: a new secret, shown once.
    let no_token = post(&app, &format!("{epath}/rotate-secret"), &admin.cookie, &[]).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    let rotated = post(
        &app,
        &format!("{epath}/rotate-secret"),
        &admin.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.html);
    let new_secret = attr(&rotated, "new-secret", "value");
    assert!(new_secret.starts_with("whsec_"));
    assert_ne!(new_secret, secret);
    assert!(
        !get(&app, &epath, &admin.cookie)
            .await
            .html
            .contains(&new_secret)
    );

    assert_eq!(
        get(&app, path, &tech.cookie).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn audit_log_filters_and_pages() {
    let app = TestApp::new().await;
    let t = app.tenant("Audit MSP").await;
    let other = app.tenant("Rival Audit MSP").await;
    app.client(&other.admin, "Their Audited Client").await;
    for i in 0..52 {
        app.client(&t.admin, &format!("Audited {i:02}")).await;
    }
    let (admin, tech, _) = sessions(&app, &t, "Audit MSP").await;
    let path = "/console/settings/audit";

    let page = get(&app, path, &admin.cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert_eq!(page.title(), "Audit log · Nestogy");
    assert!(page.html.contains("client.created"));
    assert!(!page.html.contains("Their Audited Client"));
    assert!(page.html.contains("href=\"/admin/queues\""));
    // The admin is named as the actor.
    assert!(page.html.contains(">Admin<"), "{}", page.html);

    let created = get(
        &app,
        &format!("{path}?action=client.created"),
        &admin.cookie,
    )
    .await;
    assert!(created.html.contains(">52 entries<"), "{}", created.html);
    assert!(created.has_id("next-page"));
    let key = "id=\"next-page\" href=\"";
    let at = created.html.find(key).unwrap() + key.len();
    let href = created.html[at..created.html[at..].find('"').unwrap() + at].replace("&amp;", "&");
    assert!(href.contains("action=client.created"), "{href}");
    let second = get(&app, &href, &admin.cookie).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.html);
    assert!(second.html.contains("Audited 00"), "the oldest on page two");
    assert!(!second.html.contains("user.created"));
    assert!(!second.has_id("next-page"));

    let users = get(&app, &format!("{path}?action=user.created"), &admin.cookie).await;
    assert!(users.html.contains(">2 entries<"), "{}", users.html);
    let clients = get(&app, &format!("{path}?entity_type=client"), &admin.cookie).await;
    assert!(clients.html.contains(">52 entries<"), "{}", clients.html);
    // By the tech: their sign-in only, none of the admin's clients.
    let tech_id = app.get("/api/v1/users?role=tech", &t.admin).await.body["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let by_tech = get(&app, &format!("{path}?actor={tech_id}"), &admin.cookie).await;
    assert_eq!(by_tech.status, StatusCode::OK, "{}", by_tech.html);
    assert!(
        !by_tech.html.contains("<code>client.created</code>"),
        "{}",
        by_tech.html
    );
    assert!(
        by_tech
            .html
            .contains(&format!("<option value=\"{tech_id}\" selected"))
    );
    // From tomorrow on: nothing.
    let none = get(&app, &format!("{path}?since=2026-03-02"), &admin.cookie).await;
    assert!(none.html.contains(">0 entries<"), "{}", none.html);
    let junk = get(&app, &format!("{path}?since=yesterday"), &admin.cookie).await;
    assert_eq!(junk.status, StatusCode::BAD_REQUEST);

    assert_eq!(
        get(&app, path, &tech.cookie).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn smtp_settings_never_show_the_password() {
    let app = TestApp::new().await;
    let t = app.tenant("Smtp Page MSP").await;
    let (admin, tech, _) = sessions(&app, &t, "Smtp Page MSP").await;
    let path = "/console/settings/smtp";

    let page = get(&app, path, &admin.cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert_eq!(page.title(), "Outgoing mail · Nestogy");
    assert!(page.html.contains("the platform's server"));
    assert!(!page.has_id("delete-smtp"));
    assert_form_has_csrf(&page, "smtp-form");
    let csrf = page.csrf();
    let fields = |from: &'static str, password: &'static str| {
        vec![
            ("host", "smtp.msp.example"),
            ("port", "587"),
            ("tls", "starttls"),
            ("username", "mailer"),
            ("password", password),
            ("from_address", from),
            ("from_name", "MSP Desk"),
        ]
    };
    let no_token = post(&app, path, &admin.cookie, &fields("desk@msp.example", "pw")).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    let mut bad = fields("not an address", "smtp-secret-pw");
    bad.push(("csrf", &csrf));
    let bad = post(&app, path, &admin.cookie, &bad).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.html);
    assert!(bad.html.contains("value=\"smtp.msp.example\""));
    assert!(!bad.html.contains("smtp-secret-pw"));
    let mut good = fields("desk@msp.example", "smtp-secret-pw");
    good.push(("csrf", &csrf));
    let ok = post(&app, path, &admin.cookie, &good).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.html);
    let s = app.get("/api/v1/company/smtp", &t.admin).await;
    assert_eq!(s.body["host"], "smtp.msp.example");
    assert_eq!(s.body["has_password"], true);
    let page = get(&app, path, &admin.cookie).await;
    assert!(page.html.contains("A password is stored"));
    assert!(!page.html.contains("smtp-secret-pw"));
    // Saved again without a password: the stored one stays.
    let mut again = fields("desk2@msp.example", "");
    again.push(("csrf", &csrf));
    let ok = post(&app, path, &admin.cookie, &again).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.html);
    let s = app.get("/api/v1/company/smtp", &t.admin).await;
    assert_eq!(s.body["from_address"], "desk2@msp.example");
    assert_eq!(s.body["has_password"], true);

    let gone = post(
        &app,
        &format!("{path}/delete"),
        &admin.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(gone.status, StatusCode::SEE_OTHER, "{}", gone.html);
    assert_eq!(
        app.get("/api/v1/company/smtp", &t.admin).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&app, path, &tech.cookie).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn imports_show_row_errors_and_exports_download() {
    let app = TestApp::new().await;
    let t = app.tenant("Import MSP").await;
    let other = app.tenant("Rival Import MSP").await;
    app.client(&other.admin, "Their Exported Client").await;
    let theirs = app
        .raw(
            Request::post("/api/v1/imports?kind=clients")
                .header("authorization", format!("Bearer {}", other.admin))
                .header("content-type", "text/csv")
                .body(Body::from("name\nTheir Import\n"))
                .unwrap(),
        )
        .await;
    assert_eq!(theirs.status, StatusCode::ACCEPTED, "{}", theirs.body);
    let their_import = theirs.body["import"]["id"].as_str().unwrap().to_owned();
    let (admin, _, accountant) = sessions(&app, &t, "Import MSP").await;
    let path = "/console/settings/imports";

    let page = get(&app, path, &admin.cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert_eq!(page.title(), "Imports and exports · Nestogy");
    assert_form_has_csrf(&page, "import-form");
    assert!(page.html.contains("enctype=\"multipart/form-data\""));
    assert!(page.has_id("export-form"));
    assert!(!page.has_id(&format!("import-{their_import}")));
    let csrf = page.csrf();
    let csv = b"name,email\nAcme Imported,ops@acme.example\nBroken Row,not-an-email\n";

    let no_token = post_file(
        &app,
        path,
        &admin.cookie,
        &[("kind", "clients"), ("mode", "valid_rows")],
        "file",
        Some(("clients.csv", "text/csv", csv)),
    )
    .await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN, "{}", no_token.html);
    assert_eq!(app.get("/api/v1/imports", &t.admin).await.body["total"], 0);
    // A file without the required column: the API's reason on the page.
    let bad = post_file(
        &app,
        path,
        &admin.cookie,
        &[("csrf", &csrf), ("kind", "clients"), ("mode", "valid_rows")],
        "file",
        Some((
            "clients.csv",
            "application/vnd.ms-excel",
            b"email\nx@y.example\n",
        )),
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.html);
    assert!(
        bad.html.contains("class=\"problem\" role=\"alert\""),
        "{}",
        bad.html
    );
    assert!(bad.html.contains("<option value=\"valid_rows\" selected"));

    // A browser may call a CSV file anything: the console sends it as CSV.
    let ok = post_file(
        &app,
        path,
        &admin.cookie,
        &[("csrf", &csrf), ("kind", "clients"), ("mode", "valid_rows")],
        "file",
        Some(("clients.csv", "application/vnd.ms-excel", csv)),
    )
    .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.html);
    let id = ok
        .location()
        .trim_start_matches("/console/settings/imports/")
        .to_owned();
    let imp = app.get(&format!("/api/v1/imports/{id}"), &t.admin).await;
    assert_eq!(imp.status, StatusCode::OK, "{}", imp.body);
    assert_eq!(imp.body["filename"], "clients.csv");
    assert_eq!(imp.body["mode"], "valid_rows");
    let queued = get(&app, ok.location(), &admin.cookie).await;
    assert_eq!(queued.status, StatusCode::OK, "{}", queued.html);
    assert!(queued.html.contains(">queued<"), "{}", queued.html);
    app.run_job(nestogy_jobs::imports::Run {
        tenant: t.id,
        import: id.parse().unwrap(),
        user: None,
    })
    .await
    .expect("import");
    let done = get(&app, ok.location(), &admin.cookie).await;
    assert!(done.html.contains(">completed<"), "{}", done.html);
    assert!(
        done.html.contains("id=\"created-rows\">1<"),
        "{}",
        done.html
    );
    assert!(done.html.contains("id=\"failed-rows\">1<"));
    assert!(done.has_id("row-error-list"));
    assert!(done.html.contains("<code>email</code>"), "{}", done.html);
    let found = app.get("/api/v1/clients?q=acme+imported", &t.admin).await;
    assert_eq!(found.body["total"], 1);
    let list = get(&app, path, &admin.cookie).await;
    assert!(list.has_id(&format!("import-{id}")));
    let nope = get(&app, &format!("{path}/{their_import}"), &admin.cookie).await;
    assert_eq!(nope.status, StatusCode::NOT_FOUND);

    // Exports: the tenant's rows as CSV.
    let csv = get(
        &app,
        "/console/settings/exports?kind=clients",
        &admin.cookie,
    )
    .await;
    assert_eq!(csv.status, StatusCode::OK, "{}", csv.html);
    assert!(
        csv.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv"),
        "{:?}",
        csv.headers
    );
    assert!(csv.html.contains("Acme Imported"));
    assert!(!csv.html.contains("Their Exported Client"));
    let bad = get(
        &app,
        "/console/settings/exports?kind=invoices&from=2026-03-02&to=2026-03-01",
        &admin.cookie,
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.html);
    let junk = get(
        &app,
        "/console/settings/exports?kind=secrets",
        &admin.cookie,
    )
    .await;
    assert_eq!(junk.status, StatusCode::NOT_FOUND);
    // An accountant may not import clients: the API's 403.
    let p = get(&app, path, &accountant.cookie).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn stripe_keys_are_never_shown() {
    let app = TestApp::new().await;
    let t = app.tenant("Stripe Page MSP").await;
    let (admin, tech, _) = sessions(&app, &t, "Stripe Page MSP").await;
    let path = "/console/settings/stripe";

    let page = get(&app, path, &admin.cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert_eq!(page.title(), "Stripe · Nestogy");
    assert!(page.has_id("stripe-webhook-url"));
    assert!(!page.has_id("delete-stripe"));
    assert_form_has_csrf(&page, "stripe-form");
    let csrf = page.csrf();
    let key = "sk_test_51Nestogy0000abcd";
    let no_token = post(&app, path, &admin.cookie, &[("secret_key", key)]).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    let bad = post(
        &app,
        path,
        &admin.cookie,
        &[("csrf", &csrf), ("secret_key", "pk_test_not_a_secret")],
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.html);
    assert!(
        !bad.html.contains("pk_test_not_a_secret"),
        "keys are not echoed"
    );
    let ok = post(
        &app,
        path,
        &admin.cookie,
        &[
            ("csrf", &csrf),
            ("secret_key", key),
            ("webhook_secret", "whsec_0123456789ab"),
        ],
    )
    .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.html);
    let s = app.get("/api/v1/company/stripe", &t.admin).await;
    assert_eq!(s.body["has_secret_key"], true);
    assert_eq!(s.body["secret_key_last4"], "abcd");
    assert_eq!(s.body["mode"], "test");
    assert_eq!(s.body["has_webhook_secret"], true);
    let page = get(&app, path, &admin.cookie).await;
    assert!(!page.html.contains(key));
    assert!(!page.html.contains("whsec_0123456789ab"));
    assert!(page.html.contains("abcd"));
    // Saved with empty fields: both stay.
    let again = post(
        &app,
        path,
        &admin.cookie,
        &[("csrf", &csrf), ("secret_key", "")],
    )
    .await;
    assert_eq!(again.status, StatusCode::SEE_OTHER, "{}", again.html);
    let s = app.get("/api/v1/company/stripe", &t.admin).await;
    assert_eq!(s.body["has_secret_key"], true);
    assert_eq!(s.body["has_webhook_secret"], true);
    let gone = post(
        &app,
        &format!("{path}/delete"),
        &admin.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(gone.status, StatusCode::SEE_OTHER, "{}", gone.html);
    let s = app.get("/api/v1/company/stripe", &t.admin).await;
    assert_eq!(s.body["has_secret_key"], false);
    assert_eq!(
        get(&app, path, &tech.cookie).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn rmm_receiver_shows_its_secret_once() {
    let app = TestApp::new().await;
    let t = app.tenant("Rmm Page MSP").await;
    let (admin, tech, _) = sessions(&app, &t, "Rmm Page MSP").await;
    let path = "/console/settings/rmm";

    let page = get(&app, path, &admin.cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert_eq!(page.title(), "RMM alerts · Nestogy");
    assert!(page.has_id("rmm-off"));
    assert_form_has_csrf(&page, "rmm-form");
    let csrf = page.csrf();
    let no_token = post(&app, path, &admin.cookie, &[("auto_resolve", "true")]).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    let made = post(
        &app,
        path,
        &admin.cookie,
        &[("csrf", &csrf), ("auto_resolve", "true")],
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.html);
    let secret = attr(&made, "new-rmm-secret", "value");
    let s = app.get("/api/v1/company/rmm", &t.admin).await;
    assert_eq!(s.status, StatusCode::OK, "{}", s.body);
    assert_eq!(s.body["auto_resolve"], true);
    let hint = s.body["secret_hint"].as_str().unwrap().to_owned();
    assert!(secret.ends_with(&hint), "{secret} / {hint}");
    assert!(
        made.html
            .contains(&format!("/api/v1/webhooks/rmm/{}", t.id))
    );
    let page = get(&app, path, &admin.cookie).await;
    assert!(!page.html.contains(&secret), "shown once");
    assert!(page.has_id("rmm-url"));
    // auto_resolve off.
    let saved = post(&app, path, &admin.cookie, &[("csrf", &csrf)]).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    let s = app.get("/api/v1/company/rmm", &t.admin).await;
    assert_eq!(s.body["auto_resolve"], false);
    // Rotate: a new secret, once.
    let rotated = post(
        &app,
        &format!("{path}/rotate-secret"),
        &admin.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(rotated.status, StatusCode::CREATED, "{}", rotated.html);
    let new_secret = attr(&rotated, "new-rmm-secret", "value");
    assert_ne!(new_secret, secret);
    let s = app.get("/api/v1/company/rmm", &t.admin).await;
    assert!(new_secret.ends_with(s.body["secret_hint"].as_str().unwrap()));
    let gone = post(
        &app,
        &format!("{path}/delete"),
        &admin.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(gone.status, StatusCode::SEE_OTHER, "{}", gone.html);
    assert_eq!(
        app.get("/api/v1/company/rmm", &t.admin).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&app, path, &tech.cookie).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn schedules_are_created_edited_run_and_deleted() {
    let app = TestApp::new().await;
    let t = app.tenant("Schedule MSP").await;
    let other = app.tenant("Rival Schedule MSP").await;
    let theirs = app.get("/api/v1/schedules", &other.admin).await.body["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (admin, tech, _) = sessions(&app, &t, "Schedule MSP").await;
    let path = "/console/settings/schedules";

    let page = get(&app, path, &admin.cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert_eq!(page.title(), "Schedules · Nestogy");
    assert!(page.html.contains("billing.run"), "the company's defaults");
    assert!(!page.has_id(&format!("schedule-{theirs}")));
    assert_form_has_csrf(&page, "new-schedule-form");
    let csrf = page.csrf();

    let new = |cron: &'static str| {
        vec![
            ("name", "Extra SLA check"),
            ("kind", "tickets.sla_check"),
            ("cron", cron),
            ("time_zone", ""),
            ("payload", ""),
            ("enabled", "true"),
        ]
    };
    let no_token = post(&app, path, &admin.cookie, &new("0 3 * * *")).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    let mut bad = new("every tuesday");
    bad.push(("csrf", &csrf));
    let bad = post(&app, path, &admin.cookie, &bad).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.html);
    assert!(bad.html.contains("value=\"every tuesday\""));
    let mut good = new("0 3 * * *");
    good.push(("csrf", &csrf));
    let ok = post(&app, path, &admin.cookie, &good).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.html);
    let id = ok.location().split("#schedule-").nth(1).unwrap().to_owned();
    let s = app.get(&format!("/api/v1/schedules/{id}"), &t.admin).await;
    assert_eq!(s.status, StatusCode::OK, "{}", s.body);
    assert_eq!(s.body["cron"], "0 3 * * *");
    assert_eq!(s.body["follows_company_time_zone"], true);

    // Edit: a zone of its own, then the company's again.
    let spath = format!("{path}/{id}");
    let r = post(
        &app,
        &spath,
        &admin.cookie,
        &[
            ("csrf", &csrf),
            ("name", "Extra SLA check"),
            ("cron", "30 4 * * *"),
            ("time_zone", "UTC"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    let s = app.get(&format!("/api/v1/schedules/{id}"), &t.admin).await;
    assert_eq!(s.body["cron"], "30 4 * * *");
    assert_eq!(s.body["time_zone"], "UTC");
    assert_eq!(s.body["enabled"], false, "the box was not ticked");
    let bad = post(
        &app,
        &spath,
        &admin.cookie,
        &[
            ("csrf", &csrf),
            ("name", "Extra SLA check"),
            ("cron", "61 * * * *"),
            ("enabled", "true"),
        ],
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.html);
    assert!(bad.html.contains("value=\"61 * * * *\""));
    let r = post(
        &app,
        &spath,
        &admin.cookie,
        &[
            ("csrf", &csrf),
            ("name", "Extra SLA check"),
            ("cron", "30 4 * * *"),
            ("enabled", "true"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    let s = app.get(&format!("/api/v1/schedules/{id}"), &t.admin).await;
    assert_eq!(s.body["follows_company_time_zone"], true);
    assert_eq!(s.body["time_zone"], "Europe/Berlin");

    // Run now: a job of its kind.
    let before = app
        .get("/api/v1/jobs?kind=tickets.sla_check", &t.admin)
        .await
        .body["total"]
        .as_i64()
        .unwrap();
    let no_token = post(&app, &format!("{spath}/run"), &admin.cookie, &[]).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    let r = post(
        &app,
        &format!("{spath}/run"),
        &admin.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    let after = app
        .get("/api/v1/jobs?kind=tickets.sla_check", &t.admin)
        .await
        .body["total"]
        .as_i64()
        .unwrap();
    assert_eq!(after, before + 1);

    // Another tenant's schedule: 404.
    let r = post(
        &app,
        &format!("{path}/{theirs}/run"),
        &admin.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Delete.
    let r = post(
        &app,
        &format!("{spath}/delete"),
        &admin.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    assert_eq!(
        app.get(&format!("/api/v1/schedules/{id}"), &t.admin)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&app, path, &tech.cookie).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn xero_connects_through_the_authorisation_link_and_syncs() {
    use wiremock::matchers::{body_string_contains, method, path as at};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let mock = MockServer::start().await;
    let app = TestApp::with_integrations(nestogy_jobs::IntegrationsConfig {
        allow_private_targets: true,
        public_url: "https://msp.example.com".into(),
        xero: nestogy_jobs::XeroConfig {
            client_id: Some("cid".into()),
            client_secret: Some("secret".into()),
            api_base: mock.uri(),
            identity_base: mock.uri(),
            login_base: mock.uri(),
        },
        ..Default::default()
    })
    .await;
    let t = app.tenant("Xero Page MSP").await;
    let (admin, tech, _) = sessions(&app, &t, "Xero Page MSP").await;
    let path = "/console/settings/xero";

    let page = get(&app, path, &admin.cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert_eq!(page.title(), "Xero · Nestogy");
    assert!(page.html.contains("Not connected."));
    assert!(!page.has_id("sync-xero"));
    assert!(
        page.html.contains(
            "action=\"/console/settings/xero/connect\"><input type=\"hidden\" name=\"csrf\""
        ),
        "{}",
        page.html
    );
    let csrf = page.csrf();
    let no_token = post(&app, &format!("{path}/connect"), &admin.cookie, &[]).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    let started = post(
        &app,
        &format!("{path}/connect"),
        &admin.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.html);
    let url = attr(&started, "xero-authorize", "href");
    assert!(url.starts_with(&mock.uri()), "{url}");
    let state = url
        .split(['?', '&'])
        .find_map(|kv| kv.strip_prefix("state="))
        .expect("state")
        .to_owned();

    // Xero's side: the user authorises and is sent to the API's callback.
    Mock::given(method("POST"))
        .and(at("/connect/token"))
        .and(body_string_contains("grant_type=authorization_code"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id_token": "x", "access_token": "at-1", "expires_in": 1800, "token_type": "Bearer",
            "refresh_token": "rt-1", "scope": "offline_access accounting.transactions accounting.contacts"
        })))
        .mount(&mock)
        .await;
    Mock::given(method("GET"))
        .and(at("/connections"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": "c0", "authEventId": "e0", "tenantId": "xt-1", "tenantType": "ORGANISATION",
             "tenantName": "Demo Org", "createdDateUtc": "2026-03-01T12:00:00", "updatedDateUtc": "2026-03-01T12:00:00"}
        ])))
        .mount(&mock)
        .await;
    let r = app
        .get(
            &format!("/api/v1/accounting/xero/callback?code=the-code&state={state}"),
            "",
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    app.run_job(nestogy_jobs::accounting::Connect { tenant: t.id })
        .await
        .expect("connect");

    let page = get(&app, path, &admin.cookie).await;
    assert!(
        page.html.contains("id=\"xero-status\">connected<"),
        "{}",
        page.html
    );
    assert!(page.html.contains("Demo Org"));
    assert!(
        !page.html.contains("at-1") && !page.html.contains("rt-1"),
        "no tokens"
    );
    assert!(page.has_id("sync-xero"));

    // Sync now: a run.
    let no_token = post(&app, &format!("{path}/sync"), &admin.cookie, &[]).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    let r = post(
        &app,
        &format!("{path}/sync"),
        &admin.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    let runs = app.get("/api/v1/accounting/sync-runs", &t.admin).await;
    assert_eq!(runs.body["total"], 1, "{}", runs.body);
    let run = runs.body["data"][0]["id"].as_str().unwrap().to_owned();
    assert!(
        get(&app, path, &admin.cookie)
            .await
            .has_id(&format!("run-{run}"))
    );

    // Disconnect.
    let r = post(
        &app,
        &format!("{path}/disconnect"),
        &admin.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    assert_eq!(
        app.get("/api/v1/accounting/connection", &t.admin)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // Sync without a connection: the API's 409 on the page.
    let r = post(
        &app,
        &format!("{path}/sync"),
        &admin.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.html);
    assert!(r.has_id("problem"));
    assert_eq!(
        get(&app, path, &tech.cookie).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn company_rules_replace_only_their_own_settings() {
    let app = TestApp::new().await;
    let t = app.tenant("Rules MSP").await;
    let r = app
        .patch(
            "/api/v1/company",
            &t.admin,
            json!({"settings": {"custom_key": "kept", "reminder_days": [5]}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let (admin, tech, _) = sessions(&app, &t, "Rules MSP").await;
    let path = "/console/settings/company/rules";

    let page = get(&app, "/console/settings/company", &admin.cookie).await;
    assert_form_has_csrf(&page, "rules-form");
    assert!(
        page.html
            .contains("id=\"r-reminder_days\" name=\"reminder_days\" type=\"text\" value=\"5\""),
        "{}",
        page.html
    );
    let csrf = page.csrf();
    let no_token = post(&app, path, &admin.cookie, &[("reminder_days", "1")]).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    let bad = post(
        &app,
        path,
        &admin.cookie,
        &[
            ("csrf", &csrf),
            ("reminder_days", "3, x"),
            ("report_recipients", "ap@x.example"),
        ],
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.html);
    assert!(bad.html.contains("value=\"3, x\""));
    assert!(bad.html.contains("class=\"field-problem\""), "{}", bad.html);
    assert!(bad.html.contains("value=\"ap@x.example\""));
    let ok = post(
        &app,
        path,
        &admin.cookie,
        &[
            ("csrf", &csrf),
            ("reminder_days", "7, 1"),
            ("invoice_number_pattern", "R-{YYYY}-{SEQ:6}"),
            ("acknowledgements_per_sender_hour", "2"),
            ("default_hourly_rate", "95"),
            ("report_recipients", "ap@x.example, boss@x.example"),
        ],
    )
    .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.html);
    let s = &app.get("/api/v1/company", &t.admin).await.body["settings"];
    assert_eq!(s["custom_key"], "kept", "{s}");
    assert_eq!(s["reminder_days"], json!([7, 1]));
    assert_eq!(s["invoice_number_pattern"], "R-{YYYY}-{SEQ:6}");
    assert_eq!(s["acknowledgements_per_sender_hour"], 2);
    assert_eq!(s["default_hourly_rate"], "95.00");
    assert_eq!(
        s["report_recipients"],
        json!(["ap@x.example", "boss@x.example"])
    );
    // Emptied: the defaults again, the other key still kept.
    let ok = post(&app, path, &admin.cookie, &[("csrf", &csrf)]).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.html);
    let s = &app.get("/api/v1/company", &t.admin).await.body["settings"];
    assert_eq!(s, &json!({"custom_key": "kept"}));
    let tech_csrf = get(&app, "/console", &tech.cookie).await.csrf();
    let refused = post(
        &app,
        path,
        &tech.cookie,
        &[("csrf", &tech_csrf), ("reminder_days", "1")],
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn mailboxes_and_webhook_endpoints_are_removed() {
    let app = TestApp::new().await;
    let t = app.tenant("Removal MSP").await;
    let other = app.tenant("Rival Removal MSP").await;
    let mailbox = |token: String, username: &'static str| {
        let app = &app;
        async move {
            app.post(
                "/api/v1/mailboxes",
                &token,
                json!({"name": "Desk", "address": "desk@removal.example", "host": "127.0.0.1",
                       "port": 1, "tls": "none", "username": username, "password": "pw"}),
            )
            .await
            .id()
        }
    };
    let endpoint = |token: String| {
        let app = &app;
        async move {
            app.post(
                "/api/v1/webhooks/endpoints",
                &token,
                json!({"url": "https://hooks.example.com/in", "event_types": ["*"]}),
            )
            .await
            .id()
        }
    };
    let (mine_box, their_box) = (
        mailbox(t.admin.clone(), "ours").await,
        mailbox(other.admin.clone(), "theirs").await,
    );
    let (mine_ep, their_ep) = (
        endpoint(t.admin.clone()).await,
        endpoint(other.admin.clone()).await,
    );
    let (admin, _, _) = sessions(&app, &t, "Removal MSP").await;
    let page = get(
        &app,
        &format!("/console/settings/mailboxes/{mine_box}"),
        &admin.cookie,
    )
    .await;
    assert!(page.has_id("delete-mailbox"));
    let csrf = page.csrf();
    for (console, api, mine, theirs) in [
        (
            "/console/settings/mailboxes",
            "/api/v1/mailboxes",
            &mine_box,
            &their_box,
        ),
        (
            "/console/settings/webhooks",
            "/api/v1/webhooks/endpoints",
            &mine_ep,
            &their_ep,
        ),
    ] {
        let no_token = post(
            &app,
            &format!("{console}/{mine}/delete"),
            &admin.cookie,
            &[],
        )
        .await;
        assert_eq!(no_token.status, StatusCode::FORBIDDEN);
        let nope = post(
            &app,
            &format!("{console}/{theirs}/delete"),
            &admin.cookie,
            &[("csrf", &csrf)],
        )
        .await;
        assert_eq!(nope.status, StatusCode::NOT_FOUND, "{console}");
        assert_eq!(
            app.get(&format!("{api}/{theirs}"), &other.admin)
                .await
                .status,
            StatusCode::OK
        );
        let gone = post(
            &app,
            &format!("{console}/{mine}/delete"),
            &admin.cookie,
            &[("csrf", &csrf)],
        )
        .await;
        assert_eq!(
            gone.status,
            StatusCode::SEE_OTHER,
            "{console}: {}",
            gone.html
        );
        assert_eq!(gone.location(), console);
        assert_eq!(
            app.get(&format!("{api}/{mine}"), &t.admin).await.status,
            StatusCode::NOT_FOUND
        );
    }
}
