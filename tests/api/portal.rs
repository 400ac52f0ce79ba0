//! The client portal's identity: portal settings, contacts' portal access,
//! invitations, sign-in links and passwords, and contact tokens that only
//! the portal's routes accept.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{PASSWORD, Response, TEST_SECRET_KEY, Tenant, TestApp, eventually};

/// A tenant's client with a contact who has portal access.
pub(crate) struct Portal {
    pub(crate) t: Tenant,
    pub(crate) slug: String,
    pub(crate) client: String,
    pub(crate) contact: String,
    pub(crate) email: String,
}

/// A new tenant `company` with a client "Client Co" and its billing contact
/// Ann, who has portal access (role member).
pub(crate) async fn portal(app: &TestApp, company: &str) -> Portal {
    let t = app.tenant(company).await;
    let slug = app.get("/api/v1/company", &t.admin).await.body["portal_slug"]
        .as_str()
        .unwrap()
        .to_owned();
    let client = app.client(&t.admin, "Client Co").await;
    let email = format!("ann@{slug}.example");
    let r = app
        .post(
            &format!("/api/v1/clients/{client}/contacts"),
            &t.admin,
            json!({"name": "Ann", "email": email, "portal_access": true, "is_billing": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["portal_access"], true);
    assert_eq!(r.body["portal_role"], "member");
    assert!(r.body.get("password_hash").is_none(), "{}", r.body);
    let contact = r.id();
    Portal {
        t,
        slug,
        client,
        contact,
        email,
    }
}

pub(crate) async fn public(app: &TestApp, path: &str, body: Value) -> Response {
    app.call(Method::POST, path, None, Some(body)).await
}

/// The link of the newest mail of `template`, stored sealed.
pub(crate) async fn mailed_link(app: &TestApp, template: &str) -> String {
    let (tenant, stored): (uuid::Uuid, String) = sqlx::query_as(
        "SELECT company_id, params->>'link' FROM mail_messages WHERE template = $1 \
         ORDER BY created_at DESC, id DESC LIMIT 1",
    )
    .bind(template)
    .fetch_one(&app.owner)
    .await
    .expect("a mail with a link");
    assert!(
        stored.starts_with("sealed:") && !stored.contains("/portal/"),
        "{stored}"
    );
    let key = nestogy_domain::kernel::crypto::SecretKey::from_base64(TEST_SECRET_KEY).unwrap();
    nestogy_domain::kernel::crypto::open_text(
        Some(&key),
        nestogy_domain::TenantId(tenant),
        &stored,
        "link",
    )
    .unwrap()
}

pub(crate) fn token_of(link: &str) -> String {
    link.rsplit('/').next().unwrap().to_owned()
}

pub(crate) async fn invite(app: &TestApp, p: &Portal) -> String {
    let r = app
        .post(
            &format!(
                "/api/v1/clients/{}/contacts/{}/portal-invitation",
                p.client, p.contact
            ),
            &p.t.admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    token_of(&mailed_link(app, "portal_invitation").await)
}

/// Invites the contact and accepts with `password`: a contact token.
pub(crate) async fn signed_in(app: &TestApp, p: &Portal, password: Option<&str>) -> String {
    let token = invite(app, p).await;
    let r = public(
        app,
        &format!("/api/v1/portal/{}/auth/accept-invitation", p.slug),
        json!({"token": token, "password": password}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn portal_slugs_are_made_from_the_name_unique_and_checked() {
    let app = TestApp::new().await;
    let a = app.tenant("Acme Portal").await;
    let b = app.tenant("ACME  Portal").await;
    let ca = app.get("/api/v1/company", &a.admin).await;
    assert_eq!(ca.body["portal_slug"], "acme-portal", "{}", ca.body);
    assert_eq!(ca.body["portal_reopen_days"], 14);
    assert_eq!(
        ca.body["portal_priorities"],
        json!(["low", "medium", "high"])
    );
    assert_eq!(ca.body["portal_show_assets"], false);
    let cb = app.get("/api/v1/company", &b.admin).await;
    assert_eq!(cb.body["portal_slug"], "acme-portal-2", "{}", cb.body);

    for bad in [
        "ab",
        "-acme",
        "acme-",
        "Acme",
        "acme_co",
        "acme co",
        &"a".repeat(64),
    ] {
        let r = app
            .patch("/api/v1/company", &b.admin, json!({"portal_slug": bad}))
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            r.body
        );
    }
    let r = app
        .patch(
            "/api/v1/company",
            &b.admin,
            json!({"portal_slug": "acme-portal"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.error_code(), "slug_taken");
    for bad in [
        json!({"portal_reopen_days": 366}),
        json!({"portal_reopen_days": -1}),
        json!({"portal_priorities": []}),
        json!({"portal_priorities": ["low", "low"]}),
        json!({"portal_priorities": ["urgent"]}),
    ] {
        let r = app.patch("/api/v1/company", &b.admin, bad.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            r.body
        );
    }
    let r = app
        .patch(
            "/api/v1/company",
            &b.admin,
            json!({"portal_slug": "beta-it", "portal_reopen_days": 0,
                "portal_priorities": ["low", "critical"], "portal_show_assets": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["portal_slug"], "beta-it");
    assert_eq!(r.body["portal_reopen_days"], 0);
    assert_eq!(r.body["portal_priorities"], json!(["low", "critical"]));
    assert_eq!(r.body["portal_show_assets"], true);
    // A tech may not change them.
    let tech = app
        .user(&a, nestogy_domain::kernel::roles::Role::Tech)
        .await;
    let r = app
        .patch("/api/v1/company", &tech, json!({"portal_slug": "mine"}))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn portal_access_needs_an_email_and_one_contact_per_address() {
    let app = TestApp::new().await;
    let p = portal(&app, "Flags Co").await;
    let path = format!("/api/v1/clients/{}/contacts", p.client);
    let r = app
        .post(
            &path,
            &p.t.admin,
            json!({"name": "No Mail", "portal_access": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(
        crate::common::field_code(&r, "portal_access"),
        "email_required"
    );
    let r = app
        .patch(
            &format!("{path}/{}", p.contact),
            &p.t.admin,
            json!({"email": null}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    // The same address with portal access at another client of the tenant.
    let other = app.client(&p.t.admin, "Other Client").await;
    let r = app
        .post(
            &format!("/api/v1/clients/{other}/contacts"),
            &p.t.admin,
            json!({"name": "Ann again", "email": p.email.to_uppercase(), "portal_access": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.error_code(), "portal_email_taken");
    let r = app
        .patch(
            &format!("{path}/{}", p.contact),
            &p.t.admin,
            json!({"portal_role": "admin", "is_billing": false}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["portal_role"], "admin");
    // No invitation without access.
    let r = app
        .post(
            &path,
            &p.t.admin,
            json!({"name": "Bob", "email": "bob@x.example"}),
        )
        .await;
    let bob = r.id();
    let r = app
        .post(
            &format!("{path}/{bob}/portal-invitation"),
            &p.t.admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.error_code(), "no_portal_access");
}

#[tokio::test]
async fn an_invitation_is_mailed_and_its_link_signs_in_once() {
    let app = TestApp::new().await;
    let p = portal(&app, "Invite Co").await;
    let worker = app.start_worker();
    let older = invite(&app, &p).await;
    let r = app
        .post(
            &format!(
                "/api/v1/clients/{}/contacts/{}/portal-invitation",
                p.client, p.contact
            ),
            &p.t.admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(r.body["expires_at"], "2026-03-08T12:00:00Z", "{}", r.body);
    let link = mailed_link(&app, "portal_invitation").await;
    assert!(
        link.starts_with(&format!(
            "http://127.0.0.1:8080/portal/{}/invitation/",
            p.slug
        )),
        "{link}"
    );
    let recipients: Vec<String> = sqlx::query_scalar(
        "SELECT recipients FROM mail_messages WHERE template = 'portal_invitation' LIMIT 1",
    )
    .fetch_one(&app.owner)
    .await
    .unwrap();
    assert_eq!(recipients, vec![p.email.clone()]);
    // Delivered.
    let outbox = app.dir.join("outbox");
    eventually("the invitations delivered", Duration::from_secs(20), || {
        let outbox = outbox.clone();
        async move {
            std::fs::read_dir(&outbox)
                .map(|d| {
                    d.flatten()
                        .filter(|f| {
                            std::fs::read_to_string(f.path()).is_ok_and(|m| {
                                m.contains(
                                    "Subject: Your invitation to the Invite Co client portal",
                                )
                            })
                        })
                        .count()
                        == 2
                })
                .unwrap_or(false)
        }
    })
    .await;
    worker.stop().await;
    // The link goes out opened (quoted-printable: soft breaks removed).
    let token = token_of(&link);
    let delivered: Vec<String> = std::fs::read_dir(&outbox)
        .unwrap()
        .flatten()
        .map(|f| {
            std::fs::read_to_string(f.path())
                .unwrap()
                .replace("=\r\n", "")
                .replace("=\n", "")
        })
        .collect();
    assert!(
        delivered.iter().any(|m| m.contains(&token)),
        "{delivered:?}"
    );

    let accept = format!("/api/v1/portal/{}/auth/accept-invitation", p.slug);
    // The newer invitation voided the older one.
    let r = public(&app, &accept, json!({"token": older})).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    let token = token_of(&link);
    // The staff password policy; a refused password leaves the link unused.
    let r = public(&app, &accept, json!({"token": token, "password": "short"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let r = public(&app, &accept, json!({"token": token, "password": PASSWORD})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let access = r.body["access_token"].as_str().unwrap().to_owned();
    let r = public(&app, &accept, json!({"token": token, "password": PASSWORD})).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    assert_eq!(r.error_code(), "link_used");
    for bad in ["", "x", "../../etc", &"a".repeat(5000)] {
        let r = public(&app, &accept, json!({"token": bad})).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
        assert_eq!(r.error_code(), "link_invalid");
    }

    let me = app.get("/api/v1/portal/me", &access).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert_eq!(me.body["contact"]["name"], "Ann");
    assert_eq!(me.body["contact"]["client_name"], "Client Co");
    assert_eq!(me.body["contact"]["portal_role"], "member");
    assert_eq!(me.body["contact"]["billing"], true);
    assert_eq!(me.body["contact"]["has_password"], true);
    assert!(me.body["contact"].get("password_hash").is_none());
    assert_eq!(me.body["company"]["name"], "Invite Co");
    assert_eq!(me.body["company"]["portal_slug"], p.slug);
    assert_eq!(me.body["company"]["logo_url"], Value::Null);
    assert_eq!(me.body["company"]["reopen_days"], 14);

    // The password set signs in; the audit log names the contact.
    let r = public(
        &app,
        &format!("/api/v1/portal/{}/auth/login", p.slug),
        json!({"email": p.email, "password": PASSWORD}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_log WHERE actor_contact_id = $1::uuid ORDER BY id",
    )
    .bind(&p.contact)
    .fetch_all(&app.owner)
    .await
    .unwrap();
    assert_eq!(
        actions,
        vec!["portal.invitation_accepted", "portal.login"],
        "{actions:?}"
    );
}

#[tokio::test]
async fn sign_in_links_do_not_tell_who_exists_and_work_once_in_the_asking_browser() {
    let app = TestApp::new().await;
    let p = portal(&app, "Magic Co").await;
    let ask = format!("/api/v1/portal/{}/auth/magic-link", p.slug);
    let consume = format!("/api/v1/portal/{}/auth/magic-link/consume", p.slug);
    let browser = "browser-key-0123456789";
    let unknown = public(
        &app,
        &ask,
        json!({"email": "nobody@magic.example", "browser_key": browser}),
    )
    .await;
    let known = public(
        &app,
        &ask,
        json!({"email": p.email, "browser_key": browser}),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::ACCEPTED, "{}", unknown.body);
    assert_eq!((known.status, &known.body), (unknown.status, &unknown.body));
    assert_eq!(
        app.count("SELECT count(*) FROM mail_messages WHERE template = 'portal_sign_in'")
            .await,
        1
    );
    let link = mailed_link(&app, "portal_sign_in").await;
    assert!(
        link.starts_with(&format!("http://127.0.0.1:8080/portal/{}/sign-in/", p.slug)),
        "{link}"
    );
    let token = token_of(&link);
    // Bad input is refused at the door.
    let r = public(
        &app,
        &ask,
        json!({"email": p.email, "browser_key": "short"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let r = public(
        &app,
        &ask,
        json!({"email": "not an address", "browser_key": browser}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);

    // Another browser: refused, and the link stays good.
    let r = public(
        &app,
        &consume,
        json!({"token": token, "browser_key": "another-browser-key-999"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    assert_eq!(r.error_code(), "link_other_browser");
    // Another tenant's portal does not know it.
    let other = app.tenant("Other Magic Co").await;
    let other_slug = app.get("/api/v1/company", &other.admin).await.body["portal_slug"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = public(
        &app,
        &format!("/api/v1/portal/{other_slug}/auth/magic-link/consume"),
        json!({"token": token, "browser_key": browser}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    assert_eq!(r.error_code(), "link_invalid");

    let r = public(
        &app,
        &consume,
        json!({"token": token, "browser_key": browser}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let access = r.body["access_token"].as_str().unwrap();
    assert_eq!(
        app.get("/api/v1/portal/me", access).await.status,
        StatusCode::OK
    );
    let r = public(
        &app,
        &consume,
        json!({"token": token, "browser_key": browser}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    assert_eq!(r.error_code(), "link_used");

    // 15 minutes, then never.
    public(
        &app,
        &ask,
        json!({"email": p.email, "browser_key": browser}),
    )
    .await;
    let token = token_of(&mailed_link(&app, "portal_sign_in").await);
    app.clock.advance(chrono::Duration::minutes(16));
    let r = public(
        &app,
        &consume,
        json!({"token": token, "browser_key": browser}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    assert_eq!(r.error_code(), "link_expired");
}

#[tokio::test]
async fn password_sign_in_is_throttled_apart_from_staff_and_tenants() {
    let app = TestApp::new().await;
    let p = portal(&app, "Throttle Co").await;
    signed_in(&app, &p, Some(PASSWORD)).await;
    // A staff user with the contact's address.
    let r = app
        .post(
            "/api/v1/users",
            &p.t.admin,
            json!({"email": p.email, "name": "Ann (staff)", "role": "tech", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let login = format!("/api/v1/portal/{}/auth/login", p.slug);

    // Another tenant's portal: the same answer as for an unknown address.
    let other = app.tenant("Other Throttle Co").await;
    let other_slug = app.get("/api/v1/company", &other.admin).await.body["portal_slug"]
        .as_str()
        .unwrap()
        .to_owned();
    let elsewhere = public(
        &app,
        &format!("/api/v1/portal/{other_slug}/auth/login"),
        json!({"email": p.email, "password": PASSWORD}),
    )
    .await;
    let unknown = public(
        &app,
        &login,
        json!({"email": "nobody@throttle.example", "password": PASSWORD}),
    )
    .await;
    assert_eq!(elsewhere.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        (&elsewhere.status, &elsewhere.body),
        (&unknown.status, &unknown.body)
    );
    assert_eq!(elsewhere.error_code(), "invalid_credentials");

    for _ in 0..5 {
        let r = public(
            &app,
            &login,
            json!({"email": p.email, "password": "wrong password!"}),
        )
        .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    }
    let r = public(
        &app,
        &login,
        json!({"email": p.email, "password": PASSWORD}),
    )
    .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert!(r.headers.contains_key("retry-after"));
    // Staff sign-in with the same address counts on its own.
    assert_eq!(app.login(&p.email, PASSWORD).await.status, StatusCode::OK);
}

#[tokio::test]
async fn contact_tokens_and_staff_tokens_open_only_their_own_routes() {
    let app = TestApp::new().await;
    let p = portal(&app, "Kinds Co").await;
    let contact = signed_in(&app, &p, None).await;
    for path in [
        "/api/v1/tickets",
        "/api/v1/clients",
        "/api/v1/auth/me",
        "/api/v1/company",
    ] {
        let r = app.get(path, &contact).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}: {}", r.body);
    }
    let r = app
        .call(
            Method::POST,
            "/api/v1/auth/logout-everywhere",
            Some(&contact),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    let r = app.get("/api/v1/portal/me", &p.t.admin).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    let key = app
        .post(
            "/api/v1/api-tokens",
            &p.t.admin,
            json!({"name": "k", "scopes": ["clients:read"]}),
        )
        .await;
    let key = key.body["secret"].as_str().unwrap().to_owned();
    assert_eq!(
        app.get("/api/v1/portal/me", &key).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/api/v1/portal/me", &contact).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn removing_access_and_signing_out_everywhere_end_contact_tokens_at_once() {
    let app = TestApp::new().await;
    let p = portal(&app, "Revoke Co").await;
    let first = signed_in(&app, &p, None).await;
    let r = app
        .call(
            Method::POST,
            "/api/v1/portal/auth/logout-everywhere",
            Some(&first),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(
        app.get("/api/v1/portal/me", &first).await.status,
        StatusCode::UNAUTHORIZED
    );

    let second = signed_in(&app, &p, None).await;
    assert_eq!(
        app.get("/api/v1/portal/me", &second).await.status,
        StatusCode::OK
    );
    let r = app
        .patch(
            &format!("/api/v1/clients/{}/contacts/{}", p.client, p.contact),
            &p.t.admin,
            json!({"portal_access": false}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app.get("/api/v1/portal/me", &second).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    // Given back, the old token stays ended.
    app.patch(
        &format!("/api/v1/clients/{}/contacts/{}", p.client, p.contact),
        &p.t.admin,
        json!({"portal_access": true}),
    )
    .await;
    assert_eq!(
        app.get("/api/v1/portal/me", &second).await.status,
        StatusCode::UNAUTHORIZED
    );
    // An archived client's contacts are out too.
    let third = signed_in(&app, &p, None).await;
    let r = app
        .call(
            Method::POST,
            &format!("/api/v1/clients/{}/archive", p.client),
            Some(&p.t.admin),
            None,
        )
        .await;
    assert!(r.status.is_success(), "{}", r.body);
    assert_eq!(
        app.get("/api/v1/portal/me", &third).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn portal_slugs_never_take_a_word_of_the_portals_addresses() {
    let app = TestApp::new().await;
    let t = app.tenant("Tickets").await;
    let slug = app.get("/api/v1/company", &t.admin).await.body["portal_slug"].clone();
    assert_eq!(slug, "tickets-2", "a company named Tickets");
    for reserved in [
        "tickets",
        "invoices",
        "quotes",
        "assets",
        "statement",
        "auth",
    ] {
        let r = app
            .call(
                Method::PATCH,
                "/api/v1/company",
                Some(&t.admin),
                Some(json!({"portal_slug": reserved})),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{reserved}: {}",
            r.body
        );
    }
    // The portal's addresses still answer theirs.
    let r = app
        .call(Method::GET, "/api/v1/portal/tickets-2/brand", None, None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["name"], "Tickets");
}
