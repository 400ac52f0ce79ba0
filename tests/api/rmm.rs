//! RMM alerts end to end: the receiver's secret, an alert opening a ticket
//! on the matching asset, the same alert updating it, a resolved alert
//! resolving it, and bad input changing nothing.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use nestogy_domain::kernel::roles::Role;
use serde_json::{Value, json};

use crate::common::{Response, TestApp, fields};

/// Sets up the tenant's receiver; returns its URL path and secret.
async fn receiver(app: &TestApp, admin: &str) -> (String, String) {
    let r = app
        .call(
            Method::PUT,
            "/api/v1/company/rmm",
            Some(admin),
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let url = r.body["url"].as_str().unwrap();
    let path = url[url.find("/api/").unwrap()..].to_owned();
    (path, r.body["secret"].as_str().unwrap().to_owned())
}

async fn send(app: &TestApp, path: &str, secret: Option<&str>, body: Vec<u8>) -> Response {
    let mut req = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header("content-type", "application/json");
    if let Some(s) = secret {
        req = req.header("authorization", format!("Bearer {s}"));
    }
    app.raw(req.body(Body::from(body)).unwrap()).await
}

async fn alert(app: &TestApp, path: &str, secret: &str, a: Value) -> Response {
    send(app, path, Some(secret), serde_json::to_vec(&a).unwrap()).await
}

async fn asset(app: &TestApp, token: &str, client: &str, serial: &str, hostname: &str) -> String {
    let r = app
        .post(
            "/api/v1/assets",
            token,
            json!({"client_id": client, "name": hostname, "type": "server",
                   "serial": serial, "hostname": hostname}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.id()
}

#[tokio::test]
async fn an_alert_opens_a_ticket_on_its_asset_and_the_same_alert_updates_it() {
    let app = TestApp::new().await;
    let t = app.tenant("RMM Alerts").await;
    let acme = app.client(&t.admin, "Acme").await;
    let server = asset(&app, &t.admin, &acme, "SN-4711", "acme-dc01").await;
    let (path, secret) = receiver(&app, &t.admin).await;

    let disk = json!({"alert_id": "A-1", "device": {"serial": "sn-4711"}, "severity": "warning",
                      "message": "Disk C: 91% full\nVolume C: on acme-dc01", "vendor_extra": {"x": 1}});
    let r = alert(&app, &path, &secret, disk.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["action"], "created");
    assert_eq!(r.body["asset_id"], server.as_str());
    let ticket = r.body["ticket_id"].as_str().unwrap().to_owned();
    let t1 = app
        .get(&format!("/api/v1/tickets/{ticket}"), &t.admin)
        .await;
    assert_eq!(t1.body["subject"], "[RMM] sn-4711: Disk C: 91% full");
    assert_eq!(t1.body["client_id"], acme.as_str());
    assert_eq!(t1.body["asset_id"], server.as_str());
    assert_eq!(t1.body["priority"], "medium");
    assert_eq!(t1.body["source"], "rmm");
    assert_eq!(t1.body["tags"], json!(["rmm"]));

    // The same alert again, unchanged: recorded, no note, no ticket.
    let r = alert(&app, &path, &secret, disk.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["action"], "recorded");
    assert_eq!(r.body["occurrences"], 2);
    // Worse now: a note on the same ticket and a higher priority.
    let mut worse = disk.clone();
    worse["severity"] = json!("critical");
    worse["message"] = json!("Disk C: 99% full");
    let r = alert(&app, &path, &secret, worse).await;
    assert_eq!(r.body["action"], "updated", "{}", r.body);
    assert_eq!(r.body["ticket_id"], ticket.as_str());
    let t2 = app
        .get(&format!("/api/v1/tickets/{ticket}"), &t.admin)
        .await;
    assert_eq!(t2.body["priority"], "critical");
    let messages = app
        .get(&format!("/api/v1/tickets/{ticket}/messages"), &t.admin)
        .await;
    let kinds: Vec<&str> = messages.body["data"]
        .as_array()
        .or(messages.body.as_array())
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["incoming", "note"], "{}", messages.body);
    assert_eq!(app.count("SELECT count(*) FROM tickets").await, 1);

    // Resolved: the ticket is resolved (auto_resolve defaults on).
    let mut resolved = disk.clone();
    resolved["status"] = json!("resolved");
    let r = alert(&app, &path, &secret, resolved.clone()).await;
    assert_eq!(r.body["action"], "resolved", "{}", r.body);
    let t3 = app
        .get(&format!("/api/v1/tickets/{ticket}"), &t.admin)
        .await;
    assert_eq!(t3.body["status"], "resolved");
    let r = alert(&app, &path, &secret, resolved).await;
    assert_eq!(r.body["action"], "recorded");
    // Firing again after resolution opens a new ticket.
    let r = alert(&app, &path, &secret, disk).await;
    assert_eq!(r.body["action"], "created", "{}", r.body);
    assert_ne!(r.body["ticket_id"], ticket.as_str());

    // By hostname; an unknown device opens a ticket without client.
    let r = alert(
        &app,
        &path,
        &secret,
        json!({"alert_id": "A-2", "device": {"hostname": "ACME-DC01"}, "severity": "info", "message": "Rebooted"}),
    )
    .await;
    assert_eq!(r.body["asset_id"], server.as_str(), "{}", r.body);
    let r = alert(
        &app,
        &path,
        &secret,
        json!({"alert_id": "A-3", "device": {"hostname": "nobody"}, "severity": "error", "message": "Offline"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert!(r.body["asset_id"].is_null());
    let orphan = app
        .get(
            &format!("/api/v1/tickets/{}", r.body["ticket_id"].as_str().unwrap()),
            &t.admin,
        )
        .await;
    assert!(orphan.body["client_id"].is_null());
    assert_eq!(orphan.body["priority"], "high");
}

#[tokio::test]
async fn resolution_follows_the_setting_and_a_resolved_alert_alone_opens_nothing() {
    let app = TestApp::new().await;
    let t = app.tenant("RMM Manual").await;
    let (path, secret) = receiver(&app, &t.admin).await;
    let r = app
        .call(
            Method::PUT,
            "/api/v1/company/rmm",
            Some(&t.admin),
            Some(json!({"auto_resolve": false})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["auto_resolve"], false);
    assert!(r.body["secret"].is_null(), "the secret is shown only once");
    let open = json!({"alert_id": "B-1", "device": {"hostname": "fw1"}, "severity": "error", "message": "WAN down"});
    let r = alert(&app, &path, &secret, open.clone()).await;
    let ticket = r.body["ticket_id"].as_str().unwrap().to_owned();
    let mut resolved = open;
    resolved["status"] = json!("resolved");
    let r = alert(&app, &path, &secret, resolved).await;
    assert_eq!(r.body["action"], "recorded", "{}", r.body);
    let t1 = app
        .get(&format!("/api/v1/tickets/{ticket}"), &t.admin)
        .await;
    assert_eq!(t1.body["status"], "new");
    // A resolution for an alert never seen: recorded, no ticket.
    let r = alert(
        &app,
        &path,
        &secret,
        json!({"alert_id": "B-2", "device": {"serial": "X"}, "severity": "info", "message": "ok", "status": "resolved"}),
    )
    .await;
    assert_eq!(r.body["action"], "recorded");
    assert!(r.body["ticket_id"].is_null());
    assert_eq!(app.count("SELECT count(*) FROM tickets").await, 1);
}

#[tokio::test]
async fn the_same_new_alert_twice_at_once_opens_one_ticket() {
    let app = TestApp::new().await;
    let t = app.tenant("RMM Race").await;
    let (path, secret) = receiver(&app, &t.admin).await;
    for i in 0..5 {
        let a = json!({"alert_id": format!("C-{i}"), "device": {"hostname": "h"}, "severity": "warning", "message": "CPU"});
        let (x, y) = tokio::join!(
            alert(&app, &path, &secret, a.clone()),
            alert(&app, &path, &secret, a.clone())
        );
        let mut actions = [
            x.body["action"].as_str().unwrap().to_owned(),
            y.body["action"].as_str().unwrap().to_owned(),
        ];
        actions.sort();
        assert_eq!(actions, ["created", "recorded"]);
        assert_eq!(x.body["ticket_id"], y.body["ticket_id"]);
    }
    assert_eq!(app.count("SELECT count(*) FROM tickets").await, 5);
}

#[tokio::test]
async fn bad_secrets_and_bad_bodies_change_nothing() {
    let app = TestApp::new().await;
    let a = app.tenant("RMM A").await;
    let b = app.tenant("RMM B").await;
    let (path, secret) = receiver(&app, &a.admin).await;
    let (b_path, b_secret) = receiver(&app, &b.admin).await;
    let good = serde_json::to_vec(
        &json!({"alert_id": "D-1", "device": {"hostname": "h"}, "severity": "info", "message": "m"}),
    )
    .unwrap();
    let nobody = "/api/v1/webhooks/rmm/00000000-0000-7000-8000-000000000000";
    // Missing, wrong, another tenant's secret, unknown company: one same 401.
    for (p, s) in [
        (path.as_str(), None),
        (path.as_str(), Some("rmm_wrong")),
        (path.as_str(), Some(b_secret.as_str())),
        (b_path.as_str(), Some(secret.as_str())),
        (nobody, Some(secret.as_str())),
    ] {
        let r = send(&app, p, s, good.clone()).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{p} {s:?}: {}", r.body);
        assert_eq!(r.error_code(), "unauthenticated");
        assert_eq!(
            r.body["error"]["message"],
            "send the receiver's secret as a bearer token"
        );
    }
    let r = send(
        &app,
        "/api/v1/webhooks/rmm/not-a-uuid",
        Some(&secret),
        good.clone(),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    for (body, want, code) in [
        (b"{".to_vec(), StatusCode::BAD_REQUEST, "malformed_json"),
        (b"".to_vec(), StatusCode::BAD_REQUEST, "malformed_json"),
        (
            b"[]".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            br#"{"alert_id": "x", "device": {}, "severity": "fatal", "message": "m"}"#.to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            vec![b' '; 2 * 1024 * 1024],
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
    ] {
        let r = send(&app, &path, Some(&secret), body).await;
        assert_eq!(r.status, want, "{}", r.body);
        assert_eq!(r.error_code(), code);
    }
    let r = alert(
        &app,
        &path,
        &secret,
        json!({"alert_id": " ", "device": {}, "severity": "info", "message": ""}),
    )
    .await;
    assert_eq!(fields(&r), ["alert_id", "device", "message"]);
    assert_eq!(app.count("SELECT count(*) FROM tickets").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM rmm_alerts").await, 0);

    // Rotating the secret retires the old one at once.
    let r = app
        .post("/api/v1/company/rmm/rotate-secret", &a.admin, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let fresh = r.body["secret"].as_str().unwrap().to_owned();
    assert_ne!(fresh, secret);
    let r = send(&app, &path, Some(&secret), good.clone()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = send(&app, &path, Some(&fresh), good.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    // Removed, the receiver refuses everything.
    assert_eq!(
        app.delete("/api/v1/company/rmm", &a.admin).await.status,
        StatusCode::NO_CONTENT
    );
    let r = send(&app, &path, Some(&fresh), good).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn only_admins_manage_the_receiver() {
    let app = TestApp::new().await;
    let t = app.tenant("RMM Roles").await;
    let tech = app.user(&t, Role::Tech).await;
    let accountant = app.user(&t, Role::Accountant).await;
    for token in [&tech, &accountant] {
        for (method, path) in [
            (Method::GET, "/api/v1/company/rmm"),
            (Method::PUT, "/api/v1/company/rmm"),
            (Method::DELETE, "/api/v1/company/rmm"),
            (Method::POST, "/api/v1/company/rmm/rotate-secret"),
        ] {
            let body = (method == Method::PUT || method == Method::POST).then(|| json!({}));
            let r = app.call(method.clone(), path, Some(token), body).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{method} {path}");
        }
    }
    let r = app.get("/api/v1/company/rmm", &t.admin).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    receiver(&app, &t.admin).await;
    let r = app.get("/api/v1/company/rmm", &t.admin).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.get("secret").is_none_or(Value::is_null));
    assert_eq!(r.body["auto_resolve"], true);
    let r = app
        .call(
            Method::PUT,
            "/api/v1/company/rmm",
            Some(&t.admin),
            Some(json!({"auto_resolve": "yes"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}
