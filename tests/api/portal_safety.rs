//! The portal can never reach what is not the contact's: a contact of one
//! client signs in and sends every staff route (401: a contact token opens
//! none) and every portal route and page with the ids of another client of
//! the same tenant and of another tenant (404, or 403 where the contact's
//! flags forbid), changing nothing; the portal's lists name nothing of
//! theirs; an internal note never shows, nor its attachment; every portal
//! action is audited with the contact as actor.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::common::{PASSWORD, TestApp};
use crate::console::get as get_page;
use crate::openapi::{document, operations, request, some_body};
use crate::portal::{Portal, portal, public};
use crate::portal_pages::accept;

/// What one other party (a client, a tenant) has that Ann must not reach.
struct Theirs {
    ticket: String,
    attachment: String,
    invoice: String,
    quote: String,
}

/// A ticket of `client` with an incoming message carrying an attachment,
/// a finalized invoice and a sent quote, all created by `admin`.
async fn things_of(app: &TestApp, admin: &str, client: &str, label: &str) -> Theirs {
    let t = app
        .post(
            "/api/v1/tickets",
            admin,
            json!({"subject": format!("{label} secret ticket"), "client_id": client}),
        )
        .await;
    assert_eq!(t.status, StatusCode::CREATED, "{}", t.body);
    let ticket = t.id();
    let m = app
        .post(
            &format!("/api/v1/tickets/{ticket}/messages"),
            admin,
            json!({"kind": "incoming", "body": format!("{label} aardvark"), "attachments": [
                {"filename": "theirs.txt", "content_type": "text/plain", "content_base64": "c2VjcmV0"}]}),
        )
        .await;
    assert_eq!(m.status, StatusCode::CREATED, "{}", m.body);
    let attachment = m.body["message"]["attachments"][0]["id"]
        .as_str()
        .expect("attachment")
        .to_owned();
    let invoice = app
        .open_invoice(admin, client, &format!("{label} invoice line"))
        .await;
    let q = app
        .post(
            "/api/v1/quotes",
            admin,
            json!({"client_id": client, "lines": [{"description": format!("{label} offer"), "quantity": "1", "unit_price": "10"}]}),
        )
        .await;
    assert_eq!(q.status, StatusCode::CREATED, "{}", q.body);
    let quote = q.id();
    let sent = app
        .post(&format!("/api/v1/quotes/{quote}/send"), admin, json!({}))
        .await;
    assert!(sent.status.is_success(), "{}", sent.body);
    Theirs {
        ticket,
        attachment,
        invoice,
        quote,
    }
}

/// `path` (a portal route) with each `{param}` filled from `theirs` by the
/// word before it; `None` for a route without ids.
fn filled(path: &str, theirs: &Theirs, own_ticket: &str) -> Option<String> {
    if !path.contains('{') || path.contains("{slug}") {
        return None;
    }
    let mut out = String::new();
    let mut prev = "";
    for seg in path.split('/').skip(1) {
        out.push('/');
        if seg.starts_with('{') {
            let v = match prev {
                "tickets" => &theirs.ticket,
                "invoices" => &theirs.invoice,
                "quotes" => &theirs.quote,
                "attachments" => &theirs.attachment,
                _ => own_ticket,
            };
            out.push_str(v);
        } else {
            out.push_str(seg);
        }
        prev = seg;
    }
    Some(out)
}

/// A digest of every row a probe could change.
async fn digest(app: &TestApp) -> String {
    let mut out = String::new();
    for table in [
        "tickets",
        "ticket_messages",
        "ticket_attachments",
        "invoices",
        "payments",
        "payment_links",
        "quotes",
        "contacts",
        "clients",
        "assets",
    ] {
        let d: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM {table} t"
        )))
        .fetch_one(&app.owner)
        .await
        .unwrap_or_else(|e| panic!("{table}: {e}"));
        out.push_str(&format!("{table}={}\n", d.unwrap_or_default()));
    }
    out
}

#[tokio::test]
async fn a_contact_reaches_nothing_of_another_client_or_tenant() {
    let app = TestApp::new().await;
    let p: Portal = portal(&app, "Safe Co").await;
    let admin = p.t.admin.clone();
    // Ann sees as much as a contact can: portal admin, billing, assets on.
    let r = app
        .call(
            Method::PATCH,
            &format!("/api/v1/clients/{}/contacts/{}", p.client, p.contact),
            Some(&admin),
            Some(json!({"portal_role": "admin"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app
        .call(
            Method::PATCH,
            "/api/v1/company",
            Some(&admin),
            Some(json!({"portal_show_assets": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Her own ticket, with an internal note and its attachment.
    let own = things_of(&app, &admin, &p.client, "Ann's").await;
    let note = app
        .post(
            &format!("/api/v1/tickets/{}/messages", own.ticket),
            &admin,
            json!({"kind": "note", "body": "Internal pangolin remark", "attachments": [
                {"filename": "internal.txt", "content_type": "text/plain", "content_base64": "aW50ZXJuYWw="}]}),
        )
        .await;
    assert_eq!(note.status, StatusCode::CREATED, "{}", note.body);
    let note_attachment = note.body["message"]["attachments"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Another client of the same tenant, and another tenant.
    let other_client = app
        .billed_client(&admin, "Neighbour Co", "pay@neighbour.example")
        .await;
    let neighbour = things_of(&app, &admin, &other_client, "Neighbour's").await;
    let asset = app
        .post(
            "/api/v1/assets",
            &admin,
            json!({"client_id": other_client, "name": "Neighbour's server", "type": "server"}),
        )
        .await;
    assert_eq!(asset.status, StatusCode::CREATED, "{}", asset.body);
    let b = portal(&app, "Far Away MSP").await;
    let far = things_of(&app, &b.t.admin, &b.client, "Far tenant's").await;

    // A page session, then an API token by password (which keeps it).
    let cookies = accept(&app, &p, PASSWORD).await;
    let login = public(
        &app,
        &format!("/api/v1/portal/{}/auth/login", p.slug),
        json!({"email": p.email, "password": PASSWORD}),
    )
    .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    let token = login.body["access_token"].as_str().unwrap().to_owned();

    let before = digest(&app).await;
    let doc = document();
    let mut failures = Vec::new();
    let mut portal_probes = 0;
    for op in operations(&doc).iter().filter(|o| o.authenticated) {
        if !op.path.starts_with("/api/v1/portal/") {
            // Every staff route refuses a contact token.
            let r = app
                .raw(request(op, &op.sample, Some(&token), some_body(op), &[]))
                .await;
            if r.status != StatusCode::UNAUTHORIZED {
                failures.push(format!("{}: {} for a contact", op.label(), r.status));
            }
            continue;
        }
        for theirs in [&neighbour, &far] {
            let Some(uri) = filled(&op.path, theirs, &own.ticket) else {
                continue;
            };
            portal_probes += 1;
            // A body that would be taken, so only the id can refuse it.
            let body = match uri.ends_with("/replies") {
                true => Some(("application/json", br#"{"body": "an intrusion"}"#.to_vec())),
                false => some_body(op),
            };
            let r = app.raw(request(op, &uri, Some(&token), body, &[])).await;
            if !matches!(r.status, StatusCode::NOT_FOUND | StatusCode::FORBIDDEN) {
                failures.push(format!("{} {uri}: {} {}", op.method, r.status, r.body));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(portal_probes >= 20, "{portal_probes} portal probes");

    // The note's attachment, through her own ticket: not there.
    let r = app
        .get(
            &format!(
                "/api/v1/portal/tickets/{}/attachments/{note_attachment}",
                own.ticket
            ),
            &token,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let r = app
        .get(&format!("/api/v1/portal/tickets/{}", own.ticket), &token)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let text = r.body.to_string();
    assert!(text.contains("Ann's aardvark"), "{text}");
    assert!(
        !text.contains("pangolin") && !text.contains("internal.txt"),
        "{text}"
    );

    // The lists name only her client's things.
    for list in [
        "/api/v1/portal/tickets?status=all",
        "/api/v1/portal/invoices?status=all",
        "/api/v1/portal/quotes",
        "/api/v1/portal/assets",
    ] {
        let r = app.get(list, &token).await;
        assert_eq!(r.status, StatusCode::OK, "{list}: {}", r.body);
        let text = r.body.to_string();
        assert!(r.body["data"].as_array().is_some(), "{list}: {text}");
        for theirs in [&neighbour, &far] {
            for id in [&theirs.ticket, &theirs.invoice, &theirs.quote] {
                assert!(!text.contains(id.as_str()), "{list} names {id}: {text}");
            }
        }
        assert!(
            !text.contains("Neighbour") && !text.contains("Far tenant"),
            "{list}: {text}"
        );
    }
    let mine = app.get("/api/v1/portal/tickets?status=all", &token).await;
    assert!(mine.body.to_string().contains(&own.ticket), "{}", mine.body);

    // The pages answer 404 pages for their ids.
    for theirs in [&neighbour, &far] {
        for path in [
            format!("/portal/{}/tickets/{}", p.slug, theirs.ticket),
            format!(
                "/portal/{}/tickets/{}/attachments/{}",
                p.slug, theirs.ticket, theirs.attachment
            ),
            format!("/portal/{}/invoices/{}", p.slug, theirs.invoice),
            format!("/portal/{}/invoices/{}/pdf", p.slug, theirs.invoice),
            format!("/portal/{}/quotes/{}", p.slug, theirs.quote),
        ] {
            let page = get_page(&app, &path, &cookies).await;
            assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}: {}", page.html);
            assert!(page.html.contains("Back to the portal"), "{path}");
        }
    }
    // Her session is not a session of the other tenant's portal.
    let there = get_page(&app, &format!("/portal/{}/tickets", b.slug), &cookies).await;
    assert_eq!(there.status, StatusCode::SEE_OTHER);
    assert_eq!(there.location(), format!("/portal/{}/sign-in", b.slug));

    assert_eq!(digest(&app).await, before, "a probe changed something");

    // Every portal action of hers is audited with her as the actor.
    let actions: Vec<(String, Option<uuid::Uuid>)> =
        sqlx::query_as("SELECT action, actor_user_id FROM audit_log WHERE actor_contact_id = $1")
            .bind(uuid::Uuid::parse_str(&p.contact).unwrap())
            .fetch_all(&app.owner)
            .await
            .unwrap();
    assert!(
        actions.iter().any(|(a, _)| a == "portal.login"),
        "{actions:?}"
    );
    assert!(actions.iter().all(|(_, u)| u.is_none()), "{actions:?}");
}
