//! "My account" and the account-related settings: `PATCH /api/v1/auth/me`
//! (name, e-mail, a new password with the current one), the console's My
//! account page (profile, password, TOTP enrolment through its forms,
//! sign out everywhere), a user's edit page in the users settings, a
//! mailbox's "poll now" and a Xero sync run's page with its items.

use axum::http::StatusCode;
use nestogy_domain::integrations::accounting::{self as acc, EntityType, ItemAction};
use serde_json::json;

use crate::auth::totp_code;
use crate::common::{PASSWORD, TestApp, field_code, fields};
use crate::console::{Page, admin_email, get, post, sign_in, user};
use crate::console_settings::{assert_form_has_csrf, attr, sessions};

const NEW_PASSWORD: &str = "a brand new passphrase 2026";

/// The value of the hidden field `name` of `page`.
fn hidden(page: &Page, name: &str) -> String {
    let key = format!("name=\"{name}\" value=\"");
    let at = page
        .html
        .find(&key)
        .unwrap_or_else(|| panic!("no field {name} in {}", page.html))
        + key.len();
    page.html[at..at + page.html[at..].find('"').unwrap()].replace("&amp;", "&")
}

#[tokio::test]
async fn console_account_api_patch_me_changes_name_email_and_password() {
    let app = TestApp::new().await;
    let t = app.tenant("Me API MSP").await;
    let other = app.tenant("Other Me API MSP").await;
    let (_, email) = user(&app, &t.admin, "tech").await;
    let token = app.login(&email, PASSWORD).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    // The name.
    let r = app
        .patch("/api/v1/auth/me", &token, json!({"name": "  Tess Tech  "}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["name"], "Tess Tech");
    assert_eq!(r.body["role"], "tech");
    let me = app.get("/api/v1/auth/me", &token).await;
    assert_eq!(me.body["user"]["name"], "Tess Tech");
    let audit = app
        .count("SELECT count(*) FROM audit_log WHERE action = 'user.self_updated'")
        .await;
    assert_eq!(audit, 1);
    let secrets = app
        .count(
            "SELECT count(*) FROM audit_log WHERE details::text ILIKE '%password_hash%' \
             OR details::text ILIKE '%battery%'",
        )
        .await;
    assert_eq!(secrets, 0, "no secret in the audit log");

    // Bad input: 422 with the field, nothing changes.
    let long = "x".repeat(201);
    for (body, field) in [
        (json!({"name": "bad\u{0}name"}), "name"),
        (json!({"name": long}), "name"),
        (json!({"name": "   "}), "name"),
        (json!({"email": "not an address"}), "email"),
        (json!({"new_password": NEW_PASSWORD}), "current_password"),
        (json!({"current_password": PASSWORD}), "new_password"),
        (
            json!({"current_password": PASSWORD, "new_password": "short"}),
            "new_password",
        ),
    ] {
        let r = app.patch("/api/v1/auth/me", &token, body.clone()).await;
        assert!(fields(&r).contains(&field.to_owned()), "{body}: {}", r.body);
    }
    // Nothing but one's own name, e-mail and password.
    let r = app
        .patch("/api/v1/auth/me", &token, json!({"role": "admin"}))
        .await;
    assert!(r.status.is_client_error(), "{}", r.body);
    let me = app.get("/api/v1/auth/me", &token).await;
    assert_eq!(me.body["user"]["role"], "tech");
    assert_eq!(me.body["user"]["name"], "Tess Tech");

    // Another user's address, of this company or another: 409.
    for taken in [admin_email("Me API MSP"), admin_email("Other Me API MSP")] {
        let r = app
            .patch("/api/v1/auth/me", &token, json!({"email": taken}))
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
        assert_eq!(r.error_code(), "email_taken");
    }

    // A wrong current password: 422 on current_password, and the password
    // is the old one still (the token too).
    let r = app
        .patch(
            "/api/v1/auth/me",
            &token,
            json!({"current_password": "not the password at all", "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(field_code(&r, "current_password"), "invalid_password");
    assert_eq!(
        app.get("/api/v1/auth/me", &token).await.status,
        StatusCode::OK
    );
    assert_eq!(app.login(&email, PASSWORD).await.status, StatusCode::OK);
    assert_eq!(
        app.login(&email, NEW_PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );

    // An API token cannot change its user.
    let api_token = app
        .post(
            "/api/v1/api-tokens",
            &t.admin,
            json!({"name": "Sync", "scopes": ["clients:read"]}),
        )
        .await;
    assert_eq!(api_token.status, StatusCode::CREATED, "{}", api_token.body);
    let secret = api_token.body["secret"].as_str().unwrap();
    let r = app
        .patch("/api/v1/auth/me", secret, json!({"name": "Robot"}))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);

    // The right one: the new password works, the old one and every token
    // of before do not.
    let second = app.login(&email, PASSWORD).await.body["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .patch(
            "/api/v1/auth/me",
            &token,
            json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD, "email": "tess@me-api.example"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["email"], "tess@me-api.example");
    assert_eq!(
        app.get("/api/v1/auth/me", &token).await.status,
        StatusCode::UNAUTHORIZED
    );
    let refreshed = app
        .post("/api/v1/auth/refresh", "", json!({"refresh_token": second}))
        .await;
    assert_eq!(
        refreshed.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        refreshed.body
    );
    assert_eq!(
        app.login("tess@me-api.example", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login("tess@me-api.example", NEW_PASSWORD).await.status,
        StatusCode::OK
    );
    let changed = app
        .count(
            "SELECT count(*) FROM audit_log WHERE action = 'user.self_updated' \
             AND details->>'password_changed' = 'true'",
        )
        .await;
    assert_eq!(changed, 1);
    // The other company saw nothing of it.
    let theirs = app.get("/api/v1/audit?limit=50", &other.admin).await;
    assert!(!theirs.body.to_string().contains("user.self_updated"));
}

#[tokio::test]
async fn console_account_page_changes_name_email_and_password() {
    let app = TestApp::new().await;
    let t = app.tenant("Account MSP").await;
    let (_, email) = user(&app, &t.admin, "tech").await;
    let s = sign_in(&app, &email).await;
    let path = "/console/account";

    let home = get(&app, "/console", &s.cookie).await;
    assert!(
        home.html.contains("href=\"/console/account\""),
        "the frame links My account"
    );
    let page = get(&app, path, &s.cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert_eq!(page.title(), "My account · Nestogy");
    assert!(page.html.contains(&format!("value=\"{email}\"")));
    for form in ["profile-form", "password-form"] {
        assert_form_has_csrf(&page, form);
    }
    assert!(page.has_id("account-sign-out-everywhere"));
    let csrf = page.csrf();

    // Without the token: 403, nothing changes.
    let no_token = post(&app, path, &s.cookie, &[("name", "X"), ("email", &email)]).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);

    // Name and e-mail.
    let r = post(
        &app,
        path,
        &s.cookie,
        &[
            ("csrf", &csrf),
            ("name", "Tess <Tech>"),
            ("email", "tess@account.example"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    assert_eq!(r.location(), "/console/account?done=profile");
    let page = get(&app, r.location(), &s.cookie).await;
    assert!(page.has_id("done"));
    assert!(page.html.contains("Tess &lt;Tech&gt;"), "{}", page.html);
    assert!(page.html.contains("value=\"tess@account.example\""));

    // An address in use: the API's 409 on the form, what was typed kept.
    let taken = admin_email("Account MSP");
    let r = post(
        &app,
        path,
        &s.cookie,
        &[("csrf", &csrf), ("name", "Tess"), ("email", &taken)],
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.html);
    assert!(r.html.contains("already in use"), "{}", r.html);
    assert!(r.html.contains(&format!("value=\"{taken}\"")));
    // An empty name: 422 beside the field.
    let r = post(
        &app,
        path,
        &s.cookie,
        &[
            ("csrf", &csrf),
            ("name", " "),
            ("email", "tess@account.example"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.html);
    assert!(r.html.contains("class=\"field-problem\""), "{}", r.html);

    // A wrong current password: 422 on the form; the session goes on.
    let pw = format!("{path}/password");
    let r = post(
        &app,
        &pw,
        &s.cookie,
        &[
            ("csrf", &csrf),
            ("current_password", "wrong wrong wrong"),
            ("new_password", NEW_PASSWORD),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.html);
    assert!(
        r.html.contains("the current password is wrong"),
        "{}",
        r.html
    );
    assert!(
        !r.html.contains("wrong wrong wrong"),
        "passwords not echoed"
    );
    assert_eq!(get(&app, path, &s.cookie).await.status, StatusCode::OK);
    let no_token = post(
        &app,
        &pw,
        &s.cookie,
        &[
            ("current_password", PASSWORD),
            ("new_password", NEW_PASSWORD),
        ],
    )
    .await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);

    // The right one: the session ends, the sign-in page says why.
    let r = post(
        &app,
        &pw,
        &s.cookie,
        &[
            ("csrf", &csrf),
            ("current_password", PASSWORD),
            ("new_password", NEW_PASSWORD),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    assert_eq!(r.location(), "/console/login?notice=password_changed");
    let after = get(&app, path, &s.cookie).await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert!(after.location().starts_with("/console/login"));
    let login = get(&app, r.location(), "").await;
    assert_eq!(login.status, StatusCode::OK);
    assert!(login.has_id("notice"), "{}", login.html);
    assert!(login.html.contains("sign in with the new password"));
    assert_eq!(
        app.login("tess@account.example", NEW_PASSWORD).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.login("tess@account.example", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn console_account_totp_enrolment_through_the_forms() {
    let app = TestApp::new().await;
    app.tenant("Totp Account MSP").await;
    let email = admin_email("Totp Account MSP");
    let s = sign_in(&app, &email).await;
    let path = "/console/account";

    let page = get(&app, path, &s.cookie).await;
    assert!(page.html.contains("Off."), "{}", page.html);
    assert!(page.has_id("totp-enroll"));
    let csrf = page.csrf();
    let no_token = post(&app, &format!("{path}/totp/enroll"), &s.cookie, &[]).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);

    let enrol = post(
        &app,
        &format!("{path}/totp/enroll"),
        &s.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(enrol.status, StatusCode::OK, "{}", enrol.html);
    let secret = hidden(&enrol, "secret");
    assert!(secret.len() >= 16, "{secret}");
    assert!(
        enrol.html.contains(&secret[..4].to_string()) && enrol.has_id("totp-secret"),
        "the key is shown"
    );
    let link = attr(&enrol, "totp-link", "href");
    assert!(link.starts_with("otpauth://totp/"), "{link}");
    assert!(link.contains(&secret), "{link}");
    assert_form_has_csrf(&enrol, "totp-confirm-form");
    let url = hidden(&enrol, "otpauth_url");

    // A wrong code: the API's message, the key shown again.
    let confirm = format!("{path}/totp/confirm");
    let wrong = post(
        &app,
        &confirm,
        &s.cookie,
        &[
            ("csrf", &csrf),
            ("code", "000000"),
            ("secret", &secret),
            ("otpauth_url", &url),
        ],
    )
    .await;
    assert_eq!(
        wrong.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        wrong.html
    );
    assert!(
        wrong.html.contains("the TOTP code is wrong"),
        "{}",
        wrong.html
    );
    assert!(wrong.has_id("totp-secret"));
    let me = app.login(&email, PASSWORD).await;
    assert_eq!(me.status, StatusCode::OK, "still off");

    // The right code, typed with a space.
    let code = totp_code(&secret, app.clock_now());
    let spaced = format!("{} {}", &code[..3], &code[3..]);
    let ok = post(
        &app,
        &confirm,
        &s.cookie,
        &[
            ("csrf", &csrf),
            ("code", &spaced),
            ("secret", &secret),
            ("otpauth_url", &url),
        ],
    )
    .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.html);
    let page = get(&app, ok.location(), &s.cookie).await;
    assert!(page.html.contains("On."), "{}", page.html);
    assert!(page.has_id("totp-disable"));
    assert_form_has_csrf(&page, "totp-disable-form");
    let r = app.login(&email, PASSWORD).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.error_code(), "totp_required");

    // Enrolling again while on: the API's 409 on the page.
    let again = post(
        &app,
        &format!("{path}/totp/enroll"),
        &s.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.html);
    assert!(again.has_id("totp-problem"));

    // Off: a wrong code refused, the right one taken.
    let disable = format!("{path}/totp/disable");
    let wrong = post(
        &app,
        &disable,
        &s.cookie,
        &[("csrf", &csrf), ("code", "123")],
    )
    .await;
    assert_eq!(
        wrong.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        wrong.html
    );
    assert!(wrong.html.contains("the TOTP code is wrong"));
    let off = post(
        &app,
        &disable,
        &s.cookie,
        &[
            ("csrf", &csrf),
            ("code", &totp_code(&secret, app.clock_now())),
        ],
    )
    .await;
    assert_eq!(off.status, StatusCode::SEE_OTHER, "{}", off.html);
    assert!(
        get(&app, path, &s.cookie).await.html.contains("Off."),
        "off again"
    );
    assert_eq!(app.login(&email, PASSWORD).await.status, StatusCode::OK);
}

#[tokio::test]
async fn console_account_admins_edit_a_user() {
    let app = TestApp::new().await;
    let t = app.tenant("Edit Users MSP").await;
    let other = app.tenant("Rival Edit Users MSP").await;
    let (their_id, their_email) = user(&app, &other.admin, "tech").await;
    let (admin, _, _) = sessions(&app, &t, "Edit Users MSP").await;
    let (tech_id, tech_email) = user(&app, &t.admin, "tech").await;
    let tech = sign_in(&app, &tech_email).await;
    let base = "/console/settings/users";

    let list = get(&app, base, &admin.cookie).await;
    assert!(list.has_id(&format!("edit-{tech_id}")), "{}", list.html);
    let path = format!("{base}/{tech_id}");
    let page = get(&app, &path, &admin.cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert_eq!(page.title(), "Sam tech · Nestogy");
    assert!(page.html.contains(&format!("value=\"{tech_email}\"")));
    assert_form_has_csrf(&page, "edit-user-form");
    let csrf = page.csrf();

    // Another tenant's user: the 404 page, for reading and for changing.
    let theirs = format!("{base}/{their_id}");
    let r = get(&app, &theirs, &admin.cookie).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.html);
    assert!(!r.html.contains(&their_email));
    let r = post(
        &app,
        &theirs,
        &admin.cookie,
        &[
            ("csrf", &csrf),
            ("name", "Stolen"),
            ("email", "stolen@x.example"),
            ("role", "admin"),
            ("password", ""),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.html);
    let still = app
        .get(&format!("/api/v1/users/{their_id}"), &other.admin)
        .await;
    assert_eq!(still.body["email"], their_email.as_str());

    let form = |name: &'static str, email: &'static str, role: &'static str, pw: &'static str| {
        vec![
            ("name", name),
            ("email", email),
            ("role", role),
            ("password", pw),
            ("hourly_rate", "95.50"),
        ]
    };
    let no_token = post(
        &app,
        &path,
        &admin.cookie,
        &form("T", "t@x.example", "tech", ""),
    )
    .await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);

    // 422: an empty name and a short password, beside their fields.
    let mut bad = form("", "tina@edit.example", "tech", "short");
    bad.push(("csrf", &csrf));
    let r = post(&app, &path, &admin.cookie, &bad).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.html);
    assert!(r.html.contains("value=\"tina@edit.example\""));
    assert!(r.html.contains("class=\"field-problem\""));
    assert!(!r.html.contains("value=\"short\""));

    // Name, e-mail, role and a password: the tech's session ends.
    assert_eq!(
        get(&app, "/console", &tech.cookie).await.status,
        StatusCode::OK
    );
    let mut good = form("Tina Tech", "tina@edit.example", "accountant", NEW_PASSWORD);
    good.push(("csrf", &csrf));
    let r = post(&app, &path, &admin.cookie, &good).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    let u = app.get(&format!("/api/v1/users/{tech_id}"), &t.admin).await;
    assert_eq!(u.body["name"], "Tina Tech");
    assert_eq!(u.body["email"], "tina@edit.example");
    assert_eq!(u.body["role"], "accountant");
    assert_eq!(u.body["hourly_rate"], "95.50");
    let again = get(&app, &path, &admin.cookie).await;
    assert!(again.html.contains("value=\"95.50\""), "{}", again.html);
    // A rate the API refuses, then none (the client's or the company's).
    for (rate, status) in [
        ("-5", StatusCode::UNPROCESSABLE_ENTITY),
        ("", StatusCode::SEE_OTHER),
    ] {
        let r = post(
            &app,
            &path,
            &admin.cookie,
            &[
                ("csrf", &csrf),
                ("name", "Tina Tech"),
                ("email", "tina@edit.example"),
                ("role", "accountant"),
                ("password", ""),
                ("hourly_rate", rate),
            ],
        )
        .await;
        assert_eq!(r.status, status, "{rate}: {}", r.html);
    }
    let u = app.get(&format!("/api/v1/users/{tech_id}"), &t.admin).await;
    assert!(u.body["hourly_rate"].is_null(), "{}", u.body);
    let ended = get(&app, "/console", &tech.cookie).await;
    assert_eq!(ended.status, StatusCode::SEE_OTHER);
    assert_eq!(
        app.login("tina@edit.example", NEW_PASSWORD).await.status,
        StatusCode::OK
    );

    // The last admin: the API's 409 on the form.
    let me = t.admin_id.to_string();
    let mine = format!("{base}/{me}");
    let admin_address = admin_email("Edit Users MSP");
    let r = post(
        &app,
        &mine,
        &admin.cookie,
        &[
            ("csrf", &csrf),
            ("name", "Admin"),
            ("email", &admin_address),
            ("role", "tech"),
            ("password", ""),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.html);
    assert!(r.html.contains("at least one active admin"), "{}", r.html);
    assert!(r.has_id("edit-user-form"));
    let me_now = app.get(&format!("/api/v1/users/{me}"), &t.admin).await;
    assert_eq!(me_now.body["role"], "admin");

    // A tech (or accountant) cannot open it.
    let (_, tech2) = user(&app, &t.admin, "tech").await;
    let tech2 = sign_in(&app, &tech2).await;
    let r = get(&app, &mine, &tech2.cookie).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.html);
    assert!(r.title().starts_with("Not allowed"));
}

#[tokio::test]
async fn console_account_mailbox_poll_now() {
    let app = TestApp::new().await;
    let t = app.tenant("Poll MSP").await;
    let other = app.tenant("Rival Poll MSP").await;
    let mailbox = |token: String, name: &'static str| {
        let app = &app;
        async move {
            let r = app
                .post(
                    "/api/v1/mailboxes",
                    &token,
                    json!({"name": name, "address": format!("{}@poll.example", name.to_lowercase().replace(' ', "-")),
                           "host": "127.0.0.1", "port": 1, "tls": "none", "username": name, "password": "a-secret-pw"}),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
            r.id()
        }
    };
    let mine = mailbox(t.admin.clone(), "Our desk").await;
    let theirs = mailbox(other.admin.clone(), "Their desk").await;
    let (admin, tech, _) = sessions(&app, &t, "Poll MSP").await;
    let base = "/console/settings/mailboxes";

    let list = get(&app, base, &admin.cookie).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.html);
    assert!(list.has_id(&format!("poll-{mine}")), "a button per mailbox");
    assert!(!list.html.contains(&theirs));
    assert!(list.html.contains(&format!(
        "action=\"{base}/{mine}/poll\"><input type=\"hidden\" name=\"csrf\""
    )));
    let page = get(&app, &format!("{base}/{mine}"), &admin.cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.has_id("poll-now"));
    let csrf = page.csrf();
    let poll = format!("{base}/{mine}/poll");
    let no_token = post(&app, &poll, &admin.cookie, &[]).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);

    let r = post(&app, &poll, &admin.cookie, &[("csrf", &csrf)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    assert!(
        r.location().starts_with(&format!("{base}/{mine}?polled=")),
        "{}",
        r.location()
    );
    let shown = get(&app, r.location(), &admin.cookie).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.html);
    assert!(shown.has_id("poll-result"), "{}", shown.html);
    let jobs = app.get("/api/v1/jobs?kind=mailboxes.poll", &t.admin).await;
    assert_eq!(jobs.body["total"], 1, "{}", jobs.body);
    let job = jobs.body["data"][0]["id"].as_str().unwrap();
    assert!(r.location().contains("polled=queued"), "{}", r.location());
    assert!(r.location().contains(&format!("poll_job={job}")));
    assert!(shown.html.contains("A poll was queued"), "{}", shown.html);
    assert!(shown.has_id("poll-job-state"));
    assert!(shown.html.contains(&format!("/admin/queues/jobs/{job}")));

    // Another tenant's mailbox: 404, nothing queued for them.
    let r = post(
        &app,
        &format!("{base}/{theirs}/poll"),
        &admin.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.html);
    let theirs_jobs = app
        .get("/api/v1/jobs?kind=mailboxes.poll", &other.admin)
        .await;
    assert_eq!(theirs_jobs.body["total"], 0, "{}", theirs_jobs.body);
    // A tech may not.
    let r = post(&app, &poll, &tech.cookie, &[("csrf", &csrf)]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.html);
}

#[tokio::test]
async fn console_account_xero_sync_run_lists_its_items() {
    let app = TestApp::new().await;
    let t = app.tenant("Sync Run MSP").await;
    let other = app.tenant("Rival Sync Run MSP").await;
    let invoice = uuid::Uuid::now_v7();
    let client = uuid::Uuid::now_v7();
    let payment = uuid::Uuid::now_v7();
    let mut tx = app.db.tenant(t.id).await.unwrap();
    let run = acc::create_run(&mut tx, "xero").await.unwrap();
    acc::record_item(
        &mut tx,
        run,
        EntityType::Client,
        client,
        ItemAction::Created,
        Some("XC-1"),
        None,
    )
    .await
    .unwrap();
    acc::record_item(
        &mut tx,
        run,
        EntityType::Invoice,
        invoice,
        ItemAction::Updated,
        Some("XI-7"),
        None,
    )
    .await
    .unwrap();
    acc::record_item(
        &mut tx,
        run,
        EntityType::Payment,
        payment,
        ItemAction::Failed,
        None,
        Some("Xero said <no>"),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let mut tx = app.db.tenant(other.id).await.unwrap();
    let their_run = acc::create_run(&mut tx, "xero").await.unwrap();
    tx.commit().await.unwrap();
    let (admin, tech, accountant) = sessions(&app, &t, "Sync Run MSP").await;

    let list = get(&app, "/console/settings/xero", &admin.cookie).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.html);
    assert!(list.has_id(&format!("open-run-{run}")), "{}", list.html);
    assert!(!list.html.contains(&their_run.to_string()));
    let path = format!("/console/settings/xero/runs/{run}");
    assert_eq!(attr(&list, &format!("open-run-{run}"), "href"), path);

    let page = get(&app, &path, &admin.cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.title().starts_with("Sync run of "), "{}", page.title());
    assert!(page.has_id("run-item-list"));
    for text in [
        "XC-1",
        "XI-7",
        "Xero said &lt;no&gt;",
        "created",
        "updated",
        "failed",
    ] {
        assert!(page.html.contains(text), "{text}: {}", page.html);
    }
    assert!(
        page.html
            .contains(&format!("href=\"/console/invoices/{invoice}\""))
    );
    assert!(
        page.html
            .contains(&format!("href=\"/console/clients/{client}\""))
    );
    assert!(page.html.contains(&payment.to_string()));
    // The accountant reads runs too (the API's billing read).
    assert_eq!(
        get(&app, &path, &accountant.cookie).await.status,
        StatusCode::OK
    );

    // Another tenant's run: 404; a tech: 403.
    let r = get(
        &app,
        &format!("/console/settings/xero/runs/{their_run}"),
        &admin.cookie,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.html);
    let junk = get(&app, "/console/settings/xero/runs/nope", &admin.cookie).await;
    assert_eq!(junk.status, StatusCode::NOT_FOUND);
    let r = get(&app, &path, &tech.cookie).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.html);
}

/// Guessing the current password through `PATCH /api/v1/auth/me` is
/// throttled as sign-in is: 429 once the account and address had their
/// attempts, the right password refused too meanwhile, nothing changed.
#[tokio::test]
async fn console_account_api_wrong_current_passwords_are_throttled() {
    let app = TestApp::new().await;
    let t = app.tenant("Guess MSP").await;
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let r = app
            .patch(
                "/api/v1/auth/me",
                &t.admin,
                json!({"current_password": "guessing guessing", "new_password": NEW_PASSWORD}),
            )
            .await;
        statuses.push(r.status);
    }
    assert_eq!(statuses[0], StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        statuses.last(),
        Some(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    let r = app
        .patch(
            "/api/v1/auth/me",
            &t.admin,
            json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert_eq!(r.error_code(), "account_locked");
    assert_eq!(
        app.get("/api/v1/auth/me", &t.admin).await.status,
        StatusCode::OK,
        "the token still works"
    );
    let failed = app
        .count("SELECT count(*) FROM audit_log WHERE action = 'auth.password_check_failed'")
        .await;
    assert!(failed >= 1, "{failed}");
}
