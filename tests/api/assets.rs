//! End-to-end tests: assets (CRUD, validation, filters, bulk changes,
//! history, expiring warranties), networks, the role matrix, tenant
//! isolation, and the daily warranty alerts over a moved clock.

use axum::http::{Method, StatusCode};
use chrono::{Duration, TimeZone, Utc};
use nestogy_domain::MailId;
use nestogy_domain::kernel::roles::Role;
use nestogy_jobs::assets::WarrantyAlerts;
use nestogy_jobs::mail::Deliver;
use serde_json::{Value, json};

use crate::common::{Response, Tenant, TestApp};

async fn create_asset(app: &TestApp, token: &str, body: Value) -> String {
    let r = app.post("/api/v1/assets", token, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.id()
}

async fn location(app: &TestApp, token: &str, client: &str, name: &str) -> String {
    let r = app
        .post(
            &format!("/api/v1/clients/{client}/locations"),
            token,
            json!({"name": name}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.id()
}

async fn contact(app: &TestApp, token: &str, client: &str, name: &str) -> String {
    let r = app
        .post(
            &format!("/api/v1/clients/{client}/contacts"),
            token,
            json!({"name": name}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.id()
}

/// Asserts a 422 whose fields include `field`.
fn assert_field(r: &Response, field: &str, what: &str) {
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{what}: {}",
        r.body
    );
    assert_eq!(r.error_code(), "validation_failed", "{what}: {}", r.body);
    let fields: Vec<&str> = r.body["error"]["details"]["fields"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: no fields in {}", r.body))
        .iter()
        .filter_map(|f| f["field"].as_str())
        .collect();
    assert!(fields.contains(&field), "{what}: {field} not in {fields:?}");
}

fn names(r: &Response) -> Vec<String> {
    r.body["data"]
        .as_array()
        .unwrap_or_else(|| panic!("not a page: {}", r.body))
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn an_asset_is_created_read_changed_and_deleted_with_its_history() {
    let app = TestApp::new().await;
    let t = app.tenant("Asset Co").await;
    let tech = app.user(&t, Role::Tech).await;
    let client = app.client(&tech, "Acme").await;
    let loc = location(&app, &tech, &client, "HQ").await;
    let who = contact(&app, &tech, &client, "Pat").await;
    let r = app
        .post(
            "/api/v1/assets",
            &tech,
            json!({"client_id": client, "name": " Reception PC ", "type": "workstation",
                   "make": "Dell", "model": "OptiPlex 7010", "serial": "SN-123",
                   "hostname": "rcp-01.acme.local", "ip_address": "10.0.1.20",
                   "mac_address": "AA-BB-CC-DD-EE-0F", "operating_system": "Windows 11",
                   "location_id": loc, "contact_id": who, "purchase_date": "2025-01-15",
                   "purchase_cost": "899.5", "warranty_expires": "2028-01-15", "notes": "front desk"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.id();
    let a = &r.body;
    assert_eq!(a["name"], "Reception PC");
    assert_eq!(a["type"], "workstation");
    assert_eq!(a["status"], "in_use", "in use by default");
    assert_eq!(a["mac_address"], "aa:bb:cc:dd:ee:0f", "normalised");
    assert_eq!(a["purchase_cost"], "899.50");
    assert_eq!(a["currency"], "EUR", "the company's currency");
    assert_eq!(a["location_id"], loc.as_str());

    let got = app.get(&format!("/api/v1/assets/{id}"), &tech).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body, r.body);

    let p = app
        .patch(
            &format!("/api/v1/assets/{id}"),
            &tech,
            json!({"status": "in_repair", "notes": null, "ip_address": "2001:DB8::1"}),
        )
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert_eq!(p.body["status"], "in_repair");
    assert_eq!(p.body["notes"], Value::Null, "null clears");
    assert_eq!(p.body["ip_address"], "2001:db8::1");
    assert_eq!(p.body["serial"], "SN-123", "absent stays");
    // The same values again change nothing and record nothing.
    app.clock.advance(Duration::minutes(1));
    let same = app
        .patch(
            &format!("/api/v1/assets/{id}"),
            &tech,
            json!({"status": "in_repair", "purchase_cost": "899.50", "mac_address": "aabb.ccdd.ee0f"}),
        )
        .await;
    assert_eq!(same.status, StatusCode::OK);
    assert_eq!(same.body, p.body, "not even updated_at moves");

    let h = app
        .get(&format!("/api/v1/assets/{id}/history"), &tech)
        .await;
    assert_eq!(h.status, StatusCode::OK, "{}", h.body);
    assert_eq!(h.body["total"], 2, "{}", h.body);
    let created = &h.body["data"][0];
    assert_eq!(created["kind"], "created");
    assert_eq!(created["changes"]["name"]["to"], "Reception PC");
    let updated = &h.body["data"][1];
    assert_eq!(updated["kind"], "updated");
    let changes = updated["changes"].as_object().unwrap();
    let mut fields: Vec<&str> = changes.keys().map(String::as_str).collect();
    fields.sort();
    assert_eq!(fields, ["ip_address", "notes", "status"]);
    assert_eq!(
        updated["changes"]["status"],
        json!({"from": "in_use", "to": "in_repair"})
    );
    assert_eq!(
        updated["changes"]["notes"],
        json!({"from": "front desk", "to": null})
    );
    assert!(updated["user_id"].is_string(), "who: {updated}");
    // History pages.
    let first = app
        .get(&format!("/api/v1/assets/{id}/history?limit=1"), &tech)
        .await;
    assert_eq!(first.body["data"][0]["kind"], "created");
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let second = app
        .get(
            &format!("/api/v1/assets/{id}/history?limit=1&cursor={cursor}"),
            &tech,
        )
        .await;
    assert_eq!(second.body["data"][0]["kind"], "updated");
    assert_eq!(second.body["next_cursor"], Value::Null);

    // Deleting the location or contact clears them on the asset.
    let d = app
        .delete(&format!("/api/v1/clients/{client}/locations/{loc}"), &tech)
        .await;
    assert_eq!(d.status, StatusCode::NO_CONTENT);
    let got = app.get(&format!("/api/v1/assets/{id}"), &tech).await;
    assert_eq!(got.body["location_id"], Value::Null);

    let audit = app
        .count(&format!(
            "SELECT count(*) FROM audit_log WHERE entity_id = '{id}'::uuid"
        ))
        .await;
    assert_eq!(audit, 3, "the creation and both changes are audited");
    let d = app.delete(&format!("/api/v1/assets/{id}"), &tech).await;
    assert_eq!(d.status, StatusCode::NO_CONTENT);
    let gone = app.get(&format!("/api/v1/assets/{id}"), &tech).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.error_code(), "not_found");
    let again = app.delete(&format!("/api/v1/assets/{id}"), &tech).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    let h = app
        .get(&format!("/api/v1/assets/{id}/history"), &tech)
        .await;
    assert_eq!(h.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn every_bad_asset_field_is_a_422_naming_it() {
    let app = TestApp::new().await;
    let t = app.tenant("Strict Assets").await;
    let client = app.client(&t.admin, "Acme").await;
    let other = app.client(&t.admin, "Other").await;
    let other_loc = location(&app, &t.admin, &other, "Elsewhere").await;
    let other_contact = contact(&app, &t.admin, &other, "Stranger").await;
    let base = json!({"client_id": client, "name": "PC", "type": "laptop"});
    let long = "x".repeat(201);
    let cases: Vec<(Value, &str)> = vec![
        (json!({"name": "  "}), "name"),
        (json!({"name": long}), "name"),
        (json!({"make": "m".repeat(101)}), "make"),
        (json!({"model": "m".repeat(101)}), "model"),
        (json!({"serial": "s".repeat(101)}), "serial"),
        (
            json!({"operating_system": "o".repeat(101)}),
            "operating_system",
        ),
        (json!({"notes": "n".repeat(10_001)}), "notes"),
        (json!({"hostname": "bad host"}), "hostname"),
        (json!({"hostname": "-lead.example"}), "hostname"),
        (json!({"ip_address": "10.0.0.256"}), "ip_address"),
        (json!({"ip_address": "localhost"}), "ip_address"),
        (json!({"mac_address": "aa:bb:cc:dd:ee"}), "mac_address"),
        (json!({"mac_address": "zz:bb:cc:dd:ee:ff"}), "mac_address"),
        (json!({"purchase_cost": "-1"}), "purchase_cost"),
        (json!({"purchase_cost": "1.001"}), "purchase_cost"),
        (json!({"currency": "XXX"}), "currency"),
        (json!({"purchase_date": "2099-01-01"}), "purchase_date"),
        (json!({"purchase_date": "1900-01-01"}), "purchase_date"),
        (
            json!({"purchase_date": "2025-06-01", "warranty_expires": "2025-05-31"}),
            "warranty_expires",
        ),
        (json!({"client_id": uuid::Uuid::now_v7()}), "client_id"),
        (json!({"location_id": other_loc}), "location_id"),
        (json!({"location_id": uuid::Uuid::now_v7()}), "location_id"),
        (json!({"contact_id": other_contact}), "contact_id"),
        (json!({"contact_id": uuid::Uuid::now_v7()}), "contact_id"),
    ];
    for (overlay, field) in cases {
        let mut body = base.clone();
        for (k, v) in overlay.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = app.post("/api/v1/assets", &t.admin, body.clone()).await;
        assert_field(&r, field, &format!("create {overlay}"));
    }
    // Several bad fields: all named at once.
    let r = app
        .post(
            "/api/v1/assets",
            &t.admin,
            json!({"client_id": client, "name": "", "type": "server", "ip_address": "x", "mac_address": "y"}),
        )
        .await;
    for f in ["name", "ip_address", "mac_address"] {
        assert_field(&r, f, "all at once");
    }
    // Shapes: unknown type or status, unknown fields, missing type.
    for body in [
        json!({"client_id": client, "name": "PC", "type": "spaceship"}),
        json!({"client_id": client, "name": "PC", "type": "laptop", "status": "lost"}),
        json!({"client_id": client, "name": "PC", "type": "laptop", "colour": "red"}),
        json!({"client_id": client, "name": "PC"}),
    ] {
        let r = app.post("/api/v1/assets", &t.admin, body.clone()).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(r.error_code(), "invalid_body", "{body}");
    }
    assert_eq!(app.count("SELECT count(*) FROM assets").await, 0);

    // The same rules on PATCH, over the merged asset.
    let id = create_asset(&app, &t.admin, base.clone()).await;
    for (patch, field) in [
        (json!({"name": ""}), "name"),
        (json!({"ip_address": "1.2.3"}), "ip_address"),
        (json!({"mac_address": "aabbccddeeff00"}), "mac_address"),
        (json!({"location_id": other_loc}), "location_id"),
        (json!({"client_id": other}), "contact_id"),
    ] {
        if field == "contact_id" {
            // Moving to another client with this client's contact.
            let mine = contact(&app, &t.admin, &client, "Mine").await;
            let ok = app
                .patch(
                    &format!("/api/v1/assets/{id}"),
                    &t.admin,
                    json!({"contact_id": mine}),
                )
                .await;
            assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
        }
        let r = app
            .patch(&format!("/api/v1/assets/{id}"), &t.admin, patch.clone())
            .await;
        assert_field(&r, field, &format!("patch {patch}"));
    }
    let r = app
        .patch(
            &format!("/api/v1/assets/{id}"),
            &t.admin,
            json!({"purchase_date": "2026-01-01", "warranty_expires": "2025-12-31"}),
        )
        .await;
    assert_field(&r, "warranty_expires", "patch dates");
    let r = app
        .patch(
            &format!("/api/v1/assets/{id}"),
            &t.admin,
            json!({"id": uuid::Uuid::now_v7()}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = app.get("/api/v1/assets/not-a-uuid", &t.admin).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code(), "invalid_path");
    let r = app
        .get(
            &format!("/api/v1/assets/{}", uuid::Uuid::now_v7()),
            &t.admin,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .patch(
            &format!("/api/v1/assets/{}", uuid::Uuid::now_v7()),
            &t.admin,
            json!({"name": "x"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let h = app
        .get(&format!("/api/v1/assets/{id}/history?limit=0"), &t.admin)
        .await;
    assert_field(&h, "limit", "history limit");
    let h = app
        .get(&format!("/api/v1/assets/{id}/history?cursor=zz"), &t.admin)
        .await;
    assert_field(&h, "cursor", "history cursor");
}

#[tokio::test]
async fn the_list_filters_searches_and_pages() {
    let app = TestApp::new().await;
    let t = app.tenant("List Assets").await;
    let acme = app.client(&t.admin, "Acme").await;
    let beta = app.client(&t.admin, "Beta").await;
    let hq = location(&app, &t.admin, &acme, "HQ").await;
    for (client, name, kind, status, serial, host, warranty) in [
        (
            &acme,
            "Alpha server",
            "server",
            "in_use",
            "SRV-001",
            "alpha",
            "2026-04-01",
        ),
        (
            &acme,
            "Bravo laptop",
            "laptop",
            "spare",
            "LT-002",
            "bravo",
            "2026-06-01",
        ),
        (
            &acme,
            "Charlie printer",
            "printer",
            "in_use",
            "PR-003",
            "charlie",
            "2027-01-01",
        ),
        (
            &beta,
            "Delta laptop",
            "laptop",
            "in_repair",
            "LT-004",
            "delta",
            "2026-03-15",
        ),
        (
            &beta,
            "Echo phone",
            "mobile",
            "retired",
            "MB-005",
            "echo",
            "",
        ),
    ] {
        let mut body = json!({"client_id": client, "name": name, "type": kind, "status": status,
                              "serial": serial, "hostname": host, "make": "Make", "model": "Model 100%"});
        if !warranty.is_empty() {
            body["warranty_expires"] = json!(warranty);
        }
        if name == "Alpha server" {
            body["location_id"] = json!(hq);
        }
        create_asset(&app, &t.admin, body).await;
    }
    let list = |q: &str| {
        let app = &app;
        let token = t.admin.clone();
        let path = format!("/api/v1/assets{q}");
        async move { app.get(&path, &token).await }
    };
    let all = list("").await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    assert_eq!(all.body["total"], 5);
    assert_eq!(
        names(&all),
        [
            "Alpha server",
            "Bravo laptop",
            "Charlie printer",
            "Delta laptop",
            "Echo phone"
        ]
    );
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            format!("?client_id={acme}"),
            vec!["Alpha server", "Bravo laptop", "Charlie printer"],
        ),
        ("?type=laptop".into(), vec!["Bravo laptop", "Delta laptop"]),
        (
            format!("?type=laptop&client_id={beta}"),
            vec!["Delta laptop"],
        ),
        ("?status=retired".into(), vec!["Echo phone"]),
        (format!("?location_id={hq}"), vec!["Alpha server"]),
        (
            "?warranty_from=2026-03-01&warranty_to=2026-06-30".into(),
            vec!["Alpha server", "Bravo laptop", "Delta laptop"],
        ),
        ("?warranty_from=2026-12-01".into(), vec!["Charlie printer"]),
        ("?warranty_to=2026-03-31".into(), vec!["Delta laptop"]),
        ("?q=lt-00".into(), vec!["Bravo laptop", "Delta laptop"]),
        ("?q=ECHO".into(), vec!["Echo phone"]),
        ("?q=charlie".into(), vec!["Charlie printer"]),
        (
            "?q=100%25".into(),
            vec![
                "Alpha server",
                "Bravo laptop",
                "Charlie printer",
                "Delta laptop",
                "Echo phone",
            ],
        ),
        ("?q=l%25".into(), vec![]),
        (
            "?q=make&status=in_use".into(),
            vec!["Alpha server", "Charlie printer"],
        ),
    ];
    for (q, want) in cases {
        let r = list(&q).await;
        assert_eq!(r.status, StatusCode::OK, "{q}: {}", r.body);
        assert_eq!(names(&r), want, "{q}");
        assert_eq!(r.body["total"], want.len(), "{q}");
    }
    // Pages of two, following the cursor.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let r = list(&format!("?limit=2&cursor={cursor}")).await;
        assert_eq!(r.body["total"], 5);
        seen.extend(names(&r));
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen, names(&all));
    // Malformed values are 400 invalid_query; out-of-range ones 422.
    for q in [
        "?type=spaceship",
        "?status=lost",
        "?warranty_from=yesterday",
        "?client_id=nope",
        "?limit=many",
        "?colour=red",
    ] {
        let r = list(q).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}: {}", r.body);
        assert_eq!(r.error_code(), "invalid_query", "{q}");
    }
    assert_field(
        &list("?warranty_from=2026-06-01&warranty_to=2026-05-01").await,
        "warranty_to",
        "window",
    );
    assert_field(&list("?limit=201").await, "limit", "limit");
    assert_field(&list("?cursor=garbage").await, "cursor", "cursor");
    assert_field(
        &list(&format!("?q={}", "q".repeat(201))).await,
        "q",
        "long q",
    );
}

#[tokio::test]
async fn bulk_status_and_location_change_all_or_nothing_with_history() {
    let app = TestApp::new().await;
    let t = app.tenant("Bulk Assets").await;
    let tech = app.user(&t, Role::Tech).await;
    let acme = app.client(&tech, "Acme").await;
    let beta = app.client(&tech, "Beta").await;
    let hq = location(&app, &tech, &acme, "HQ").await;
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(
            create_asset(
                &app,
                &tech,
                json!({"client_id": acme, "name": format!("PC {n}"), "type": "workstation"}),
            )
            .await,
        );
    }
    let spare = create_asset(
        &app,
        &tech,
        json!({"client_id": acme, "name": "Spare", "type": "laptop", "status": "spare"}),
    )
    .await;
    let betas = create_asset(
        &app,
        &tech,
        json!({"client_id": beta, "name": "Beta PC", "type": "workstation"}),
    )
    .await;
    let statuses = || async {
        let r = app.get("/api/v1/assets?limit=200", &tech).await;
        r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["name"].as_str().unwrap().to_owned(),
                    a["status"].as_str().unwrap().to_owned(),
                    a["location_id"].as_str().map(str::to_owned),
                )
            })
            .collect::<Vec<_>>()
    };
    let before = statuses().await;

    // An unknown id: a 422 naming it, and nothing changes.
    let ghost = uuid::Uuid::now_v7().to_string();
    let r = app
        .post(
            "/api/v1/assets/bulk-status",
            &tech,
            json!({"ids": [ids[0], ghost], "status": "spare"}),
        )
        .await;
    assert_field(&r, "ids", "unknown id");
    assert!(r.body.to_string().contains(&ghost), "{}", r.body);
    assert_eq!(statuses().await, before);
    for body in [
        json!({"ids": [], "status": "spare"}),
        json!({"ids": vec![ids[0].clone(); 501], "status": "spare"}),
    ] {
        let r = app.post("/api/v1/assets/bulk-status", &tech, body).await;
        assert_field(&r, "ids", "count");
    }
    let r = app
        .post(
            "/api/v1/assets/bulk-status",
            &tech,
            json!({"ids": [ids[0]], "status": "lost"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.error_code(), "invalid_body");

    // All of them (one named twice, one already spare): the others change.
    let r = app
        .post(
            "/api/v1/assets/bulk-status",
            &tech,
            json!({"ids": [ids[0], ids[1], ids[2], ids[0], spare], "status": "spare"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["changed"].as_array().unwrap().len(), 3);
    let h = app
        .get(&format!("/api/v1/assets/{}/history", ids[1]), &tech)
        .await;
    assert_eq!(h.body["total"], 2);
    assert_eq!(h.body["data"][1]["kind"], "bulk");
    assert_eq!(
        h.body["data"][1]["changes"],
        json!({"status": {"from": "in_use", "to": "spare"}})
    );
    let h = app
        .get(&format!("/api/v1/assets/{spare}/history"), &tech)
        .await;
    assert_eq!(h.body["total"], 1, "unchanged: no event");

    // Location: an asset of another client than the location's is named, and nothing moves.
    let r = app
        .post(
            "/api/v1/assets/bulk-location",
            &tech,
            json!({"ids": [ids[0], betas], "location_id": hq}),
        )
        .await;
    assert_field(&r, "ids", "other client");
    assert!(r.body.to_string().contains(&betas), "{}", r.body);
    let r = app
        .post(
            "/api/v1/assets/bulk-location",
            &tech,
            json!({"ids": [ids[0]], "location_id": uuid::Uuid::now_v7()}),
        )
        .await;
    assert_field(&r, "location_id", "unknown location");
    let r = app
        .post(
            "/api/v1/assets/bulk-location",
            &tech,
            json!({"ids": [ids[0], uuid::Uuid::now_v7()], "location_id": hq}),
        )
        .await;
    assert_field(&r, "ids", "unknown asset");
    let mid = statuses().await;
    assert!(mid.iter().all(|(_, _, l)| l.is_none()), "{mid:?}");

    let r = app
        .post(
            "/api/v1/assets/bulk-location",
            &tech,
            json!({"ids": [ids[0], ids[1]], "location_id": hq}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["changed"].as_array().unwrap().len(), 2);
    assert!(
        r.body["changed"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["location_id"] == hq.as_str())
    );
    // null takes them out of the location.
    let r = app
        .post(
            "/api/v1/assets/bulk-location",
            &tech,
            json!({"ids": [ids[0], ids[2]], "location_id": null}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.body["changed"].as_array().unwrap().len(),
        1,
        "ids[2] had none"
    );
    let h = app
        .get(&format!("/api/v1/assets/{}/history", ids[0]), &tech)
        .await;
    let kinds: Vec<&str> = h.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["created", "bulk", "bulk", "bulk"]);
    assert_eq!(
        h.body["data"][3]["changes"]["location_id"],
        json!({"from": hq, "to": null})
    );
}

#[tokio::test]
async fn networks_are_managed_per_client_and_validated() {
    let app = TestApp::new().await;
    let t = app.tenant("Net Co").await;
    let tech = app.user(&t, Role::Tech).await;
    let client = app.client(&tech, "Acme").await;
    let base = format!("/api/v1/clients/{client}/networks");
    let r = app
        .post(
            &base,
            &tech,
            json!({"name": "Office LAN", "cidr": "10.0.1.77/24", "vlan": 10, "gateway": "10.0.1.1",
                   "dns_servers": ["10.0.1.2", " 1.1.1.1 ", "10.0.1.2"], "notes": "main"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.id();
    assert_eq!(r.body["cidr"], "10.0.1.0/24", "host bits cleared");
    assert_eq!(r.body["dns_servers"], json!(["10.0.1.2", "1.1.1.1"]));
    let v6 = app
        .post(
            &base,
            &tech,
            json!({"name": "v6", "cidr": "2001:DB8:0:1::5/64", "gateway": "2001:db8:0:1::1"}),
        )
        .await;
    assert_eq!(v6.status, StatusCode::CREATED, "{}", v6.body);
    assert_eq!(v6.body["cidr"], "2001:db8:0:1::/64");

    let cases: Vec<(Value, &str)> = vec![
        (json!({"name": ""}), "name"),
        (json!({"name": "n".repeat(201)}), "name"),
        (json!({"cidr": "10.0.1.0"}), "cidr"),
        (json!({"cidr": "10.0.1.0/33"}), "cidr"),
        (json!({"cidr": "10.0.300.0/24"}), "cidr"),
        (json!({"cidr": "::/129"}), "cidr"),
        (json!({"vlan": 0}), "vlan"),
        (json!({"vlan": 4095}), "vlan"),
        (json!({"gateway": "10.0.2.1"}), "gateway"),
        (json!({"gateway": "2001:db8::1"}), "gateway"),
        (json!({"gateway": "router"}), "gateway"),
        (
            json!({"dns_servers": ["8.8.8.8", "dns.google"]}),
            "dns_servers",
        ),
        (
            json!({"dns_servers": (1..=9).map(|i| format!("10.0.0.{i}")).collect::<Vec<_>>()}),
            "dns_servers",
        ),
        (json!({"notes": "n".repeat(10_001)}), "notes"),
    ];
    for (overlay, field) in &cases {
        let mut body = json!({"name": "Test", "cidr": "10.0.1.0/24"});
        for (k, v) in overlay.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = app.post(&base, &tech, body).await;
        assert_field(&r, field, &format!("create {overlay}"));
        if field != &"name" {
            let r = app
                .patch(&format!("{base}/{id}"), &tech, overlay.clone())
                .await;
            assert_field(&r, field, &format!("patch {overlay}"));
        }
    }
    let r = app
        .post(
            &base,
            &tech,
            json!({"name": "x", "cidr": "10.0.0.0/8", "ssid": "guest"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.error_code(), "invalid_body");
    // A name is unique per client.
    let dup = app
        .post(
            &base,
            &tech,
            json!({"name": "office lan", "cidr": "10.9.0.0/16"}),
        )
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT, "{}", dup.body);
    assert_eq!(dup.error_code(), "network_name_taken");
    let other = app.client(&tech, "Other").await;
    let fine = app
        .post(
            &format!("/api/v1/clients/{other}/networks"),
            &tech,
            json!({"name": "Office LAN", "cidr": "10.0.1.0/24"}),
        )
        .await;
    assert_eq!(fine.status, StatusCode::CREATED, "another client's may");
    // The gateway is checked against a changed CIDR.
    let r = app
        .patch(
            &format!("{base}/{id}"),
            &tech,
            json!({"cidr": "192.168.0.0/24"}),
        )
        .await;
    assert_field(&r, "gateway", "gateway left outside");
    let p = app
        .patch(
            &format!("{base}/{id}"),
            &tech,
            json!({"cidr": "192.168.0.0/24", "gateway": "192.168.0.254", "vlan": null}),
        )
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert_eq!(p.body["vlan"], Value::Null);
    assert_eq!(p.body["notes"], "main");
    let got = app.get(&format!("{base}/{id}"), &tech).await;
    assert_eq!(got.body, p.body);

    let list = app.get(&base, &tech).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(names(&list), ["Office LAN", "v6"]);
    let found = app.get(&format!("{base}?q=2001:db8"), &tech).await;
    assert_eq!(names(&found), ["v6"]);
    let page = app.get(&format!("{base}?limit=1"), &tech).await;
    assert_eq!(names(&page), ["Office LAN"]);
    let next = page.body["next_cursor"].as_str().unwrap();
    let page = app
        .get(&format!("{base}?limit=1&cursor={next}"), &tech)
        .await;
    assert_eq!(names(&page), ["v6"]);
    assert_eq!(
        app.get(&format!("{base}?limit=0"), &tech).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    // The network belongs to its client: under another one it does not exist.
    let r = app
        .get(&format!("/api/v1/clients/{other}/networks/{id}"), &tech)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let ghost = uuid::Uuid::now_v7();
    let r = app
        .get(&format!("/api/v1/clients/{ghost}/networks"), &tech)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .post(
            &format!("/api/v1/clients/{ghost}/networks"),
            &tech,
            json!({"name": "x", "cidr": "10.0.0.0/8"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .get(&format!("/api/v1/clients/{client}/networks/nope"), &tech)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    let d = app.delete(&format!("{base}/{id}"), &tech).await;
    assert_eq!(d.status, StatusCode::NO_CONTENT);
    let d = app.delete(&format!("{base}/{id}"), &tech).await;
    assert_eq!(d.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE action LIKE 'network.%'")
            .await,
        5
    );
}

#[tokio::test]
async fn expiring_warranties_lists_the_window_soonest_first() {
    let app = TestApp::new().await;
    let t = app.tenant("Expiry Co").await;
    let client = app.client(&t.admin, "Acme").await;
    let other = app.client(&t.admin, "Other").await;
    // Today is 2026-03-01 in Berlin.
    for (c, name, expires, status) in [
        (&client, "Expired", "2026-02-28", "in_use"),
        (&client, "Today", "2026-03-01", "in_use"),
        (&client, "In a week", "2026-03-08", "spare"),
        (&other, "In 30 days", "2026-03-31", "in_repair"),
        (&client, "In 31 days", "2026-04-01", "in_use"),
        (&client, "Retired", "2026-03-05", "retired"),
        (&client, "In a year", "2027-03-01", "in_use"),
    ] {
        create_asset(
            &app,
            &t.admin,
            json!({"client_id": c, "name": name, "type": "other", "status": status, "warranty_expires": expires}),
        )
        .await;
    }
    create_asset(
        &app,
        &t.admin,
        json!({"client_id": client, "name": "No warranty", "type": "software_licence"}),
    )
    .await;
    let get = |q: &str| {
        let path = format!("/api/v1/assets/warranties/expiring{q}");
        let app = &app;
        let token = t.admin.clone();
        async move { app.get(&path, &token).await }
    };
    let r = get("").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        names(&r),
        ["Today", "In a week", "In 30 days"],
        "30 by default"
    );
    assert_eq!(names(&get("?days=7").await), ["Today", "In a week"]);
    assert_eq!(
        names(&get("?days=365").await),
        [
            "Today",
            "In a week",
            "In 30 days",
            "In 31 days",
            "In a year"
        ]
    );
    assert_eq!(
        names(&get(&format!("?days=365&client_id={other}")).await),
        ["In 30 days"]
    );
    let p1 = get("?days=365&limit=2").await;
    assert_eq!(names(&p1), ["Today", "In a week"]);
    assert_eq!(p1.body["total"], 5);
    let c = p1.body["next_cursor"].as_str().unwrap();
    let p2 = get(&format!("?days=365&limit=2&cursor={c}")).await;
    assert_eq!(names(&p2), ["In 30 days", "In 31 days"]);
    for q in ["?days=0", "?days=366", "?days=-1"] {
        assert_field(&get(q).await, "days", q);
    }
    for q in [
        "?days=soon",
        "?days=1.5",
        "?client_id=x",
        "?until=2026-04-01",
    ] {
        let r = get(q).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}");
        assert_eq!(r.error_code(), "invalid_query", "{q}");
    }
    // The path is not taken for an asset id.
    let r = app.get("/api/v1/assets/warranties/history", &t.admin).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

struct Case {
    method: Method,
    path: String,
    body: Option<Value>,
    ok: StatusCode,
}

/// Every asset and network route, for a fresh asset and network of `t`.
async fn cases(app: &TestApp, t: &Tenant) -> Vec<Case> {
    let client = app.client(&t.admin, "Matrix client").await;
    let loc = location(app, &t.admin, &client, "Site").await;
    let asset = create_asset(
        app,
        &t.admin,
        json!({"client_id": client, "name": "Matrix PC", "type": "laptop"}),
    )
    .await;
    let net = app
        .post(
            &format!("/api/v1/clients/{client}/networks"),
            &t.admin,
            json!({"name": "LAN", "cidr": "10.0.0.0/24"}),
        )
        .await
        .id();
    let nets = format!("/api/v1/clients/{client}/networks");
    use StatusCode as S;
    let c = |method: Method, path: String, body: Option<Value>, ok: StatusCode| Case {
        method,
        path,
        body,
        ok,
    };
    vec![
        c(Method::GET, "/api/v1/assets".into(), None, S::OK),
        c(
            Method::POST,
            "/api/v1/assets".into(),
            Some(json!({"client_id": client, "name": "New", "type": "server"})),
            S::CREATED,
        ),
        c(Method::GET, format!("/api/v1/assets/{asset}"), None, S::OK),
        c(
            Method::PATCH,
            format!("/api/v1/assets/{asset}"),
            Some(json!({"notes": "n"})),
            S::OK,
        ),
        c(
            Method::GET,
            format!("/api/v1/assets/{asset}/history"),
            None,
            S::OK,
        ),
        c(
            Method::POST,
            "/api/v1/assets/bulk-status".into(),
            Some(json!({"ids": [asset], "status": "spare"})),
            S::OK,
        ),
        c(
            Method::POST,
            "/api/v1/assets/bulk-location".into(),
            Some(json!({"ids": [asset], "location_id": loc})),
            S::OK,
        ),
        c(
            Method::GET,
            "/api/v1/assets/warranties/expiring?days=30".into(),
            None,
            S::OK,
        ),
        c(Method::GET, nets.clone(), None, S::OK),
        c(
            Method::POST,
            nets.clone(),
            Some(json!({"name": "New LAN", "cidr": "10.1.0.0/24"})),
            S::CREATED,
        ),
        c(Method::GET, format!("{nets}/{net}"), None, S::OK),
        c(
            Method::PATCH,
            format!("{nets}/{net}"),
            Some(json!({"vlan": 5})),
            S::OK,
        ),
        c(Method::DELETE, format!("{nets}/{net}"), None, S::NO_CONTENT),
        c(
            Method::DELETE,
            format!("/api/v1/assets/{asset}"),
            None,
            S::NO_CONTENT,
        ),
    ]
}

#[tokio::test]
async fn techs_and_admins_manage_assets_and_accountants_get_403() {
    let app = TestApp::new().await;
    let t = app.tenant("Matrix Co").await;
    let tokens = [
        (Role::Admin, t.admin.clone()),
        (Role::Tech, app.user(&t, Role::Tech).await),
        (Role::Accountant, app.user(&t, Role::Accountant).await),
    ];
    for (role, token) in &tokens {
        // Fresh rows for each role, so deletes and creates succeed in turn.
        for case in cases(&app, &t).await {
            let r = app
                .call(
                    case.method.clone(),
                    &case.path,
                    Some(token),
                    case.body.clone(),
                )
                .await;
            let want = if *role == Role::Accountant {
                StatusCode::FORBIDDEN
            } else {
                case.ok
            };
            assert_eq!(
                r.status, want,
                "{} {} as {role:?}: {}",
                case.method, case.path, r.body
            );
            if want == StatusCode::FORBIDDEN {
                r.error_code();
            }
        }
    }
    // Without a token: 401.
    let r = app.call(Method::GET, "/api/v1/assets", None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn another_tenant_gets_404_on_assets_and_networks_and_changes_nothing() {
    let app = TestApp::new().await;
    let a = app.tenant("Tenant A").await;
    let b = app.tenant("Tenant B").await;
    let a_client = app.client(&a.admin, "A's client").await;
    let a_loc = location(&app, &a.admin, &a_client, "A site").await;
    let a_contact = contact(&app, &a.admin, &a_client, "A person").await;
    let a_asset = create_asset(
        &app,
        &a.admin,
        json!({"client_id": a_client, "name": "Aardvark server", "type": "server",
               "serial": "A-SERIAL", "warranty_expires": "2026-03-10"}),
    )
    .await;
    let a_net = app
        .post(
            &format!("/api/v1/clients/{a_client}/networks"),
            &a.admin,
            json!({"name": "Aardvark LAN", "cidr": "10.0.0.0/24"}),
        )
        .await
        .id();
    let b_client = app.client(&b.admin, "B's client").await;
    let b_asset = create_asset(
        &app,
        &b.admin,
        json!({"client_id": b_client, "name": "B's PC", "type": "laptop"}),
    )
    .await;
    let before = app
        .get(&format!("/api/v1/assets/{a_asset}"), &a.admin)
        .await;

    for (method, path, body) in [
        (Method::GET, format!("/api/v1/assets/{a_asset}"), None),
        (
            Method::PATCH,
            format!("/api/v1/assets/{a_asset}"),
            Some(json!({"name": "Mine now"})),
        ),
        (
            Method::GET,
            format!("/api/v1/assets/{a_asset}/history"),
            None,
        ),
        (Method::DELETE, format!("/api/v1/assets/{a_asset}"), None),
        (
            Method::GET,
            format!("/api/v1/clients/{a_client}/networks"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/clients/{a_client}/networks"),
            Some(json!({"name": "Sneaky", "cidr": "10.9.0.0/16"})),
        ),
        (
            Method::GET,
            format!("/api/v1/clients/{a_client}/networks/{a_net}"),
            None,
        ),
        (
            Method::PATCH,
            format!("/api/v1/clients/{a_client}/networks/{a_net}"),
            Some(json!({"name": "Mine"})),
        ),
        (
            Method::DELETE,
            format!("/api/v1/clients/{a_client}/networks/{a_net}"),
            None,
        ),
        (
            Method::GET,
            format!("/api/v1/clients/{b_client}/networks/{a_net}"),
            None,
        ),
    ] {
        let r = app.call(method.clone(), &path, Some(&b.admin), body).await;
        assert_eq!(
            r.status,
            StatusCode::NOT_FOUND,
            "{method} {path}: {}",
            r.body
        );
        assert!(!r.body.to_string().contains("Aardvark"), "{}", r.body);
    }
    // Bulk with A's ids: named as unknown, nothing changes.
    let r = app
        .post(
            "/api/v1/assets/bulk-status",
            &b.admin,
            json!({"ids": [a_asset, b_asset], "status": "retired"}),
        )
        .await;
    assert_field(&r, "ids", "bulk status across tenants");
    let r = app
        .post(
            "/api/v1/assets/bulk-location",
            &b.admin,
            json!({"ids": [b_asset], "location_id": a_loc}),
        )
        .await;
    assert_field(&r, "location_id", "bulk location to A's site");
    let r = app
        .post(
            "/api/v1/assets/bulk-location",
            &b.admin,
            json!({"ids": [a_asset], "location_id": null}),
        )
        .await;
    assert_field(&r, "ids", "bulk location across tenants");
    // A's client, location and contact cannot be named in B's assets.
    let r = app
        .post(
            "/api/v1/assets",
            &b.admin,
            json!({"client_id": a_client, "name": "x", "type": "other"}),
        )
        .await;
    assert_field(&r, "client_id", "A's client");
    let r = app
        .patch(
            &format!("/api/v1/assets/{b_asset}"),
            &b.admin,
            json!({"location_id": a_loc, "contact_id": a_contact}),
        )
        .await;
    assert_field(&r, "location_id", "A's location");
    assert_field(&r, "contact_id", "A's contact");
    // B's lists show none of A's.
    for path in [
        "/api/v1/assets".to_owned(),
        "/api/v1/assets?q=aardvark".to_owned(),
        format!("/api/v1/assets?client_id={a_client}"),
        "/api/v1/assets/warranties/expiring?days=365".to_owned(),
        format!("/api/v1/clients/{b_client}/networks"),
    ] {
        let r = app.get(&path, &b.admin).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert!(
            !r.body.to_string().contains("Aardvark"),
            "{path}: {}",
            r.body
        );
        assert!(!r.body.to_string().contains(&a_asset), "{path}");
    }
    let after = app
        .get(&format!("/api/v1/assets/{a_asset}"), &a.admin)
        .await;
    assert_eq!(after.body, before.body, "A's asset untouched");
    let net = app
        .get(
            &format!("/api/v1/clients/{a_client}/networks/{a_net}"),
            &a.admin,
        )
        .await;
    assert_eq!(net.body["name"], "Aardvark LAN");
    let b_now = app
        .get(&format!("/api/v1/assets/{b_asset}"), &b.admin)
        .await;
    assert_eq!(b_now.body["status"], "in_use", "B's asset untouched too");
    // B's warranty job alerts nothing of A's.
    let out = app.run_job(WarrantyAlerts { tenant: b.id }).await.unwrap();
    assert_eq!(out["alerts"], 0, "{out}");
    assert_eq!(app.count("SELECT count(*) FROM warranty_alerts").await, 0);
}

/// The warranty-alert mails, oldest first: (subject, recipients, asset names with threshold).
async fn alert_mails(app: &TestApp) -> Vec<(String, Vec<String>, Vec<(String, i64)>)> {
    let rows: Vec<(String, Vec<String>, Value)> = sqlx::query_as(
        "SELECT subject, recipients, params FROM mail_messages \
         WHERE template = 'warranty_expiring' ORDER BY created_at, subject",
    )
    .fetch_all(&app.owner)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(s, r, p)| {
            let assets = p["assets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| {
                    (
                        a["name"].as_str().unwrap().to_owned(),
                        a["threshold_days"].as_i64().unwrap(),
                    )
                })
                .collect();
            (s, r, assets)
        })
        .collect()
}

#[tokio::test]
async fn warranty_alerts_go_out_once_at_30_7_and_1_days_over_a_moved_clock() {
    let app = TestApp::new().await;
    let t = app.tenant("Warranty Co").await;
    let tech = app.user(&t, Role::Tech).await;
    let _accountant = app.user(&t, Role::Accountant).await;
    let acme = app.client(&t.admin, "Acme").await;
    let beta = app.client(&t.admin, "Beta").await;
    // Today is 2026-03-01 (Berlin).
    let _server = create_asset(
        &app,
        &tech,
        json!({"client_id": acme, "name": "Server", "type": "server", "serial": "SRV-1",
               "warranty_expires": "2026-04-10"}),
    )
    .await;
    let soon = create_asset(
        &app,
        &tech,
        json!({"client_id": acme, "name": "Soon", "type": "laptop", "hostname": "soon-01",
               "warranty_expires": "2026-03-06"}),
    )
    .await;
    create_asset(
        &app,
        &tech,
        json!({"client_id": acme, "name": "Retired", "type": "laptop", "status": "retired",
               "warranty_expires": "2026-03-20"}),
    )
    .await;
    create_asset(
        &app,
        &tech,
        json!({"client_id": beta, "name": "Beta switch", "type": "network",
               "warranty_expires": "2026-04-10"}),
    )
    .await;
    let job = || WarrantyAlerts { tenant: t.id };
    let mut per_day = Vec::new();
    for day in 0..=42 {
        app.clock
            .set(Utc.with_ymd_and_hms(2026, 3, 1, 7, 0, 0).unwrap() + Duration::days(day));
        if day == 6 {
            // The expired warranty of "Soon" was extended to 2026-03-10: a
            // new expiry alerts again (days later, straight to the domain,
            // as the token expired).
            let mut tx = app.db.tenant(t.id).await.unwrap();
            let patch = serde_json::from_value(json!({"warranty_expires": "2026-03-10"})).unwrap();
            nestogy_domain::inventory::assets::update(&mut tx, soon.parse().unwrap(), patch, None)
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
        let before = alert_mails(&app).await.len();
        let (one, two) = if day == 10 {
            // Two runs at once, as a redelivered job might.
            let (a, b) = tokio::join!(app.run_job(job()), app.run_job(job()));
            (a.unwrap(), b.unwrap())
        } else {
            (
                app.run_job(job()).await.unwrap(),
                app.run_job(job()).await.unwrap(),
            )
        };
        let made = alert_mails(&app).await.len() - before;
        assert_eq!(
            one["messages"].as_u64().unwrap() + two["messages"].as_u64().unwrap(),
            made as u64,
            "day {day}: {one} {two}"
        );
        if day != 10 {
            assert_eq!(two["alerts"], 0, "day {day}: the second run alerts nothing");
        }
        if made > 0 {
            per_day.push((day, made));
        }
        let queued: Vec<MailId> = sqlx::query_scalar(
            "SELECT id FROM mail_messages WHERE status = 'queued' AND template = 'warranty_expiring'",
        )
        .fetch_all(&app.owner)
        .await
        .unwrap();
        for mail in queued {
            let r = app.run_job(Deliver { tenant: t.id, mail }).await.unwrap();
            assert_eq!(r["status"], "sent", "day {day}: {r}");
        }
    }
    // Day 0: "Soon" is 5 days out: the 7-day alert only. Day 4: its 1-day
    // alert. Day 6: extended to 03-10 (4 days): 7 days again; day 8: 1 day.
    // Day 10: 30 days for both clients' 04-10 warranties (one mail each);
    // day 33: 7 days; day 39: 1 day. Never the retired one.
    assert_eq!(
        per_day,
        [(0, 1), (4, 1), (6, 1), (8, 1), (10, 2), (33, 2), (39, 2)]
    );
    let mails = alert_mails(&app).await;
    let soon_alerts: Vec<i64> = mails
        .iter()
        .flat_map(|(_, _, a)| a.iter())
        .filter(|(n, _)| n == "Soon")
        .map(|(_, d)| *d)
        .collect();
    assert_eq!(soon_alerts, [7, 1, 7, 1], "no 30-day burst at 5 days out");
    for name in ["Server", "Beta switch"] {
        let got: Vec<i64> = mails
            .iter()
            .flat_map(|(_, _, a)| a.iter())
            .filter(|(n, _)| n == name)
            .map(|(_, d)| *d)
            .collect();
        assert_eq!(got, [30, 7, 1], "{name}");
    }
    assert!(
        mails
            .iter()
            .all(|(_, _, a)| a.iter().all(|(n, _)| n != "Retired"))
    );
    // To the techs and admins, not the accountant.
    for (subject, recipients, _) in &mails {
        assert_eq!(recipients.len(), 2, "{subject}: {recipients:?}");
        assert!(recipients.contains(&"admin@warranty-co.example".to_owned()));
        assert!(recipients.iter().any(|r| r.starts_with("tech-")));
        assert!(!recipients.iter().any(|r| r.starts_with("accountant-")));
    }
    assert_eq!(app.count("SELECT count(*) FROM warranty_alerts").await, 10);
    assert_eq!(
        app.count("SELECT count(*) FROM warranty_alerts WHERE mail_id IS NULL")
            .await,
        0
    );
    // Delivered (to the outbox: the company has no server of its own), each
    // once, with the assets listed.
    let emls: Vec<String> = std::fs::read_dir(app.dir.join("outbox"))
        .unwrap()
        .flatten()
        .map(|f| std::fs::read_to_string(f.path()).unwrap())
        .collect();
    assert_eq!(emls.len(), 10);
    let day0 = emls
        .iter()
        .find(|e| e.contains("in 5 days"))
        .expect("the day-0 alert");
    assert!(
        day0.contains("Subject: Warranties expiring soon: 1 asset of Acme")
            && day0.contains("Soon (hostname soon-01)"),
        "{day0}"
    );
    assert!(
        emls.iter()
            .any(|e| e.contains("Subject: Warranties expiring soon: 1 asset of Beta")),
        "one mail per client"
    );
}
