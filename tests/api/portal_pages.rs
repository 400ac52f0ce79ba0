//! The client portal's pages (`/portal/{slug}`, crate nestogy-web) through
//! the whole site's router: the branded sign-in page, an invitation
//! accepted with a password, a sign-in link that works once and only in the
//! browser that asked for it, password sign-in, CSRF on every form,
//! sign-out and sign-out everywhere, and sessions that are not the
//! console's.

use axum::http::StatusCode;
use serde_json::json;

use crate::common::{PASSWORD, TestApp};
use crate::console::{Page, get, post, post_file};
use crate::portal::{Portal, invite, mailed_link, portal, token_of};

const SESSION: &str = "nestogy_portal";
const BROWSER: &str = "nestogy_portal_browser";

/// The value of cookie `name` a page sets.
fn cookie_set(p: &Page, name: &str) -> String {
    p.set_cookie(name)
        .unwrap_or_else(|| panic!("no {name} cookie set: {:?}", p.headers))
        .0
}

/// Accepts an invitation to `p`'s portal through its page (with
/// `password`, if any); the session cookie header to send from then on.
pub(crate) async fn accept(app: &TestApp, p: &Portal, password: &str) -> String {
    let token = invite(app, p).await;
    let page = get(app, &format!("/portal/{}/invitation/{token}", p.slug), "").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    let key = cookie_set(&page, BROWSER);
    let browser = format!("{BROWSER}={key}");
    let done = post(
        app,
        &format!("/portal/{}/invitation/{token}", p.slug),
        &browser,
        &[("csrf", &page.csrf()), ("password", password)],
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    assert_eq!(done.location(), format!("/portal/{}/tickets", p.slug));
    format!("{browser}; {SESSION}={}", cookie_set(&done, SESSION))
}

#[tokio::test]
async fn portal_pages_sign_in_by_invitation_link_and_password() {
    let app = TestApp::new().await;
    let p = portal(&app, "Brand Co").await;
    let r = app
        .call(
            axum::http::Method::PATCH,
            "/api/v1/company",
            Some(&p.t.admin),
            Some(json!({"branding": {"accent_color": "#aa3300"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // The sign-in page is the tenant's: its name, its colour (allowed by
    // the page's CSP), a browser key and CSRF-protected forms.
    let page = get(&app, &format!("/portal/{}/sign-in", p.slug), "").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.title().contains("Brand Co"), "{}", page.title());
    assert!(page.html.contains("--accent:#aa3300"));
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert_eq!(csp.matches("'sha256-").count(), 2, "{csp}");
    assert!(page.has_id("send-link") && page.has_id("sign-in"));
    let key = cookie_set(&page, BROWSER);
    assert!(
        page.set_cookie(BROWSER).unwrap().1.contains("Path=/portal"),
        "{:?}",
        page.headers
    );

    // Not signed in: the portal's pages send to its sign-in page; an
    // address that is no portal answers 404, one with a hostile slug too.
    let home = get(&app, &format!("/portal/{}", p.slug), "").await;
    assert_eq!(home.status, StatusCode::SEE_OTHER);
    assert_eq!(home.location(), format!("/portal/{}/sign-in", p.slug));
    for bad in ["no-such-portal", "..%2F..%2Fapi", "A", "x%00y"] {
        let none = get(&app, &format!("/portal/{bad}/sign-in"), "").await;
        assert_eq!(none.status, StatusCode::NOT_FOUND, "{bad}: {}", none.html);
        assert!(none.html.contains("no client portal"), "{}", none.html);
    }

    // An invitation accepted with a password signs in.
    let cookies = accept(&app, &p, PASSWORD).await;
    let home = get(&app, &format!("/portal/{}", p.slug), &cookies).await;
    assert_eq!(home.location(), format!("/portal/{}/tickets", p.slug));
    let rows: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM web_sessions WHERE contact_id = $1 AND user_id IS NULL",
    )
    .bind(uuid::Uuid::parse_str(&p.contact).unwrap())
    .fetch_one(&app.owner)
    .await
    .unwrap();
    assert_eq!(rows, 1);
    // The portal's session opens nothing in the console.
    let console = get(
        &app,
        "/console",
        &cookies.replace(SESSION, "nestogy_console"),
    )
    .await;
    assert_eq!(console.status, StatusCode::SEE_OTHER);
    assert_eq!(console.location(), "/console/login");

    // The same invitation does not work twice.
    let token = invite(&app, &p).await;
    let page = get(&app, &format!("/portal/{}/invitation/{token}", p.slug), "").await;
    let browser = format!("{BROWSER}={}", cookie_set(&page, BROWSER));
    let first = post(
        &app,
        &format!("/portal/{}/invitation/{token}", p.slug),
        &browser,
        &[("csrf", &page.csrf()), ("password", "")],
    )
    .await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.html);
    let again = post(
        &app,
        &format!("/portal/{}/invitation/{token}", p.slug),
        &browser,
        &[("csrf", &page.csrf()), ("password", "")],
    )
    .await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED, "{}", again.html);
    assert!(again.html.contains("accepted already"), "{}", again.html);

    // Password sign-in: a wrong password says so and keeps the address.
    let browser = format!("{BROWSER}={key}");
    let page = get(&app, &format!("/portal/{}/sign-in", p.slug), &browser).await;
    assert!(page.set_cookie(BROWSER).is_none(), "the key is kept");
    let wrong = post(
        &app,
        &format!("/portal/{}/sign-in/password", p.slug),
        &browser,
        &[
            ("csrf", &page.csrf()),
            ("email", &p.email),
            ("password", "not the password"),
        ],
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.html.contains(&p.email) && wrong.has_id("problem"));
    let right = post(
        &app,
        &format!("/portal/{}/sign-in/password", p.slug),
        &browser,
        &[
            ("csrf", &page.csrf()),
            ("email", &p.email),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(right.status, StatusCode::SEE_OTHER, "{}", right.html);
    assert!(right.set_cookie(SESSION).is_some());

    // A form without the browser's CSRF token is refused.
    let forged = post(
        &app,
        &format!("/portal/{}/sign-in/password", p.slug),
        &format!("{BROWSER}=another-browser-key-0123456789"),
        &[
            ("csrf", &page.csrf()),
            ("email", &p.email),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn portal_pages_sign_in_links_work_once_in_the_browser_that_asked() {
    let app = TestApp::new().await;
    let p = portal(&app, "Link Co").await;
    // Sign-in links need no password: accept without one.
    let _ = accept(&app, &p, "").await;

    let page = get(&app, &format!("/portal/{}/sign-in", p.slug), "").await;
    let browser = format!("{BROWSER}={}", cookie_set(&page, BROWSER));
    let sent = post(
        &app,
        &format!("/portal/{}/sign-in/link", p.slug),
        &browser,
        &[("csrf", &page.csrf()), ("email", &p.email)],
    )
    .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.html);
    assert!(sent.html.contains("Check your e-mail"));
    // An unknown address reads the same.
    let unknown = post(
        &app,
        &format!("/portal/{}/sign-in/link", p.slug),
        &browser,
        &[("csrf", &page.csrf()), ("email", "nobody@example.com")],
    )
    .await;
    assert_eq!(unknown.status, StatusCode::OK);
    assert!(unknown.html.contains("Check your e-mail"));

    let link = mailed_link(&app, "portal_sign_in").await;
    let path = link
        .find("/portal/")
        .map(|i| link[i..].to_owned())
        .expect("a portal path");
    assert_eq!(
        path,
        format!("/portal/{}/sign-in/{}", p.slug, token_of(&link))
    );
    // Opening the link uses nothing: a scanner's GET leaves it working.
    let other = get(&app, &path, "").await;
    assert_eq!(other.status, StatusCode::OK);
    assert!(other.has_id("use-link"));
    // Another browser cannot use it, and leaves it unused.
    let other_browser = format!("{BROWSER}={}", cookie_set(&other, BROWSER));
    let refused = post(&app, &path, &other_browser, &[("csrf", &other.csrf())]).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.html);
    assert!(refused.html.contains("another browser"), "{}", refused.html);
    // The browser that asked can, once.
    let mine = get(&app, &path, &browser).await;
    let used = post(&app, &path, &browser, &[("csrf", &mine.csrf())]).await;
    assert_eq!(used.status, StatusCode::SEE_OTHER, "{}", used.html);
    let cookies = format!("{browser}; {SESSION}={}", cookie_set(&used, SESSION));
    let twice = post(&app, &path, &browser, &[("csrf", &mine.csrf())]).await;
    assert_eq!(twice.status, StatusCode::UNAUTHORIZED);
    assert!(twice.html.contains("used already"), "{}", twice.html);

    // Sign out ends this session; a second session then signs out
    // everywhere, which ends every other one.
    let home = get(&app, &format!("/portal/{}", p.slug), &cookies).await;
    assert_eq!(home.location(), format!("/portal/{}/tickets", p.slug));
    let signed_in = get(&app, &format!("/portal/{}/sign-in", p.slug), &cookies).await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER, "signed in: home");
    let a = accept(&app, &p, "").await;
    let b = accept(&app, &p, "").await;
    let page_a = get(&app, &format!("/portal/{}/sign-in?x=1", p.slug), &a).await;
    assert_eq!(page_a.status, StatusCode::SEE_OTHER);
    // No CSRF token: refused, nothing ends.
    let forged = post(
        &app,
        &format!("/portal/{}/sign-out-everywhere", p.slug),
        &a,
        &[],
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let csrf = app.jwt_csrf("portal", &session_value(&a));
    let out = post(
        &app,
        &format!("/portal/{}/sign-out-everywhere", p.slug),
        &a,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER, "{}", out.html);
    assert!(out.location().ends_with("/sign-in?notice=signed_out"));
    for gone in [&a, &b, &cookies] {
        let home = get(&app, &format!("/portal/{}", p.slug), gone).await;
        assert_eq!(home.location(), format!("/portal/{}/sign-in", p.slug));
    }
}

/// The session cookie's value in a cookie header.
fn session_value(cookies: &str) -> String {
    cookies
        .split("; ")
        .find_map(|c| c.strip_prefix(&format!("{SESSION}=")))
        .expect("a session cookie")
        .to_owned()
}

#[tokio::test]
async fn portal_pages_staff_add_contacts_with_portal_access_and_invite_them() {
    let app = TestApp::new().await;
    let p = portal(&app, "Invite Co").await;
    let s = crate::console::sign_in(&app, &crate::console::admin_email("Invite Co")).await;
    let page = get(&app, &format!("/console/clients/{}", p.client), &s.cookie).await;
    assert_eq!(page.status, StatusCode::OK);
    // Ann has access: a button invites her.
    assert!(
        page.has_id(&format!("invite-{}", p.contact)),
        "{}",
        page.html
    );
    let csrf = page.csrf();
    let added = post(
        &app,
        &format!("/console/clients/{}/contacts", p.client),
        &s.cookie,
        &[
            ("csrf", &csrf),
            ("name", "Bo Admin"),
            ("email", "bo@invite.example"),
            ("portal_access", "true"),
            ("portal_admin", "true"),
        ],
    )
    .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.html);
    let contacts = app
        .get(
            &format!("/api/v1/clients/{}/contacts", p.client),
            &p.t.admin,
        )
        .await;
    let bo = contacts.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Bo Admin")
        .cloned()
        .expect("Bo");
    assert_eq!(bo["portal_access"], true);
    assert_eq!(bo["portal_role"], "admin");
    let bo_id = bo["id"].as_str().unwrap().to_owned();

    let invited = post(
        &app,
        &format!("/console/clients/{}/contacts/{bo_id}/invite", p.client),
        &s.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(invited.status, StatusCode::SEE_OTHER, "{}", invited.html);
    let shown = get(
        &app,
        invited.location().split('#').next().unwrap(),
        &s.cookie,
    )
    .await;
    assert!(
        shown.html.contains("is on its way to Bo Admin"),
        "{}",
        shown.html
    );
    let link = mailed_link(&app, "portal_invitation").await;
    assert!(
        link.contains(&format!("/portal/{}/invitation/", p.slug)),
        "{link}"
    );

    // Without portal access the API refuses, and the page says why.
    let r = app
        .call(
            axum::http::Method::PATCH,
            &format!("/api/v1/clients/{}/contacts/{bo_id}", p.client),
            Some(&p.t.admin),
            Some(json!({"portal_access": false})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let refused = post(
        &app,
        &format!("/console/clients/{}/contacts/{bo_id}/invite", p.client),
        &s.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.html);
    assert!(refused.html.contains("portal access"), "{}", refused.html);
    // Without the CSRF token: refused before anything.
    let forged = post(
        &app,
        &format!(
            "/console/clients/{}/contacts/{}/invite",
            p.client, p.contact
        ),
        &s.cookie,
        &[],
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
}

/// A new ticket or a reply posted twice from the same page (a double
/// click, a page sent again) is stored once: each form carries a key of
/// its own, sent as the API's `Idempotency-Key`; a new page has a new key.
#[tokio::test]
async fn portal_pages_a_form_posted_twice_stores_once() {
    let app = TestApp::new().await;
    let p = portal(&app, "Twice Co").await;
    let cookies = accept(&app, &p, "a long portal password").await;
    let form = get(&app, &format!("/portal/{}/tickets/new", p.slug), &cookies).await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.html);
    let (csrf, once) = (form.csrf(), form.input_value("once"));
    let fields = [
        ("csrf", csrf.as_str()),
        ("once", once.as_str()),
        ("subject", "Printer jams"),
        ("description", "Again."),
    ];
    let path = format!("/portal/{}/tickets/new", p.slug);
    let first = post_file(&app, &path, &cookies, &fields, "attachments", None).await;
    let second = post_file(&app, &path, &cookies, &fields, "attachments", None).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.html);
    assert_eq!(second.status, StatusCode::SEE_OTHER, "{}", second.html);
    assert_eq!(first.location(), second.location());
    assert_eq!(app.count("SELECT count(*) FROM tickets").await, 1);

    let page = get(&app, first.location(), &cookies).await;
    let (csrf, once) = (page.csrf(), page.input_value("once"));
    let reply = format!("{}/reply", first.location());
    for _ in 0..2 {
        let fields = [
            ("csrf", csrf.as_str()),
            ("once", once.as_str()),
            ("body", "Still jams."),
        ];
        let r = post_file(&app, &reply, &cookies, &fields, "attachments", None).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    }
    let replies = "SELECT count(*) FROM ticket_messages WHERE body = 'Still jams.'";
    assert_eq!(app.count(replies).await, 1);
    // The page drawn after it has a new key: the same words again are a
    // new reply.
    let page = get(&app, first.location(), &cookies).await;
    assert_ne!(page.input_value("once"), once);
    let fields = [
        ("csrf", page.csrf()),
        ("once", page.input_value("once")),
        ("body", "Still jams.".to_owned()),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = post_file(&app, &reply, &cookies, &fields, "attachments", None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    assert_eq!(app.count(replies).await, 2);
}
