use axum::http::StatusCode;
use serde_json::json;

use nestogy_domain::kernel::roles::Role;

use crate::common::{PASSWORD, TestApp};

#[tokio::test]
async fn admins_manage_users_and_keep_one_admin() {
    let app = TestApp::new().await;
    let t = app.tenant("People").await;
    let created = app
        .post("/api/v1/users", &t.admin, json!({"email": "tina@people.example", "name": "Tina", "role": "tech", "password": PASSWORD}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert!(created.body.get("password").is_none() && created.body.get("password_hash").is_none());
    let tina = created.id();
    assert_eq!(
        app.login("tina@people.example", PASSWORD).await.status,
        StatusCode::OK
    );

    // E-mail addresses are unique everywhere, whatever the case.
    let dup = app
        .post("/api/v1/users", &t.admin, json!({"email": "TINA@people.example", "name": "T2", "role": "tech", "password": PASSWORD}))
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    assert_eq!(dup.error_code(), "email_taken");

    let list = app.get("/api/v1/users?role=tech", &t.admin).await;
    assert_eq!(list.body["total"], 1);

    // The only admin cannot demote or deactivate themselves.
    let me = t.admin_id.to_string();
    let demote = app
        .patch(
            &format!("/api/v1/users/{me}"),
            &t.admin,
            json!({"role": "tech"}),
        )
        .await;
    assert_eq!(demote.status, StatusCode::CONFLICT);
    assert_eq!(demote.error_code(), "last_admin");
    assert_eq!(
        app.delete(&format!("/api/v1/users/{me}"), &t.admin)
            .await
            .status,
        StatusCode::CONFLICT
    );
    // With a second admin it works.
    app.patch(
        &format!("/api/v1/users/{tina}"),
        &t.admin,
        json!({"role": "admin"}),
    )
    .await;
    assert_eq!(
        app.patch(
            &format!("/api/v1/users/{me}"),
            &t.admin,
            json!({"role": "accountant"})
        )
        .await
        .status,
        StatusCode::OK
    );

    // Deactivation ends sign-in and refresh.
    let s = app.login("tina@people.example", PASSWORD).await;
    let refresh = s.body["refresh_token"].as_str().unwrap().to_owned();
    let other_admin = app.tenant("People").await; // same company: resets the seed admin to admin
    let gone = app
        .delete(&format!("/api/v1/users/{tina}"), &other_admin.admin)
        .await;
    assert_eq!(gone.status, StatusCode::OK, "{}", gone.body);
    assert_eq!(gone.body["active"], false);
    assert_eq!(
        app.login("tina@people.example", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = app
        .call(
            axum::http::Method::POST,
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": refresh})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn company_settings_are_validated_and_audited() {
    let app = TestApp::new().await;
    let t = app.tenant("Settings").await;
    let r = app
        .patch(
            "/api/v1/company",
            &t.admin,
            json!({"time_zone": "America/New_York", "currency": "USD", "locale": "en-US",
                   "address": {"city": "New York", "country": "us"}, "settings": {"ticket_prefix": "T"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["time_zone"], "America/New_York");
    assert_eq!(r.body["address"]["country"], "US");
    assert_eq!(r.body["settings"]["ticket_prefix"], "T");
    let again = app.get("/api/v1/company", &t.admin).await;
    assert_eq!(again.body, r.body);
    let audit = app
        .get("/api/v1/audit?action=company.updated", &t.admin)
        .await;
    assert_eq!(audit.body["total"], 1);

    // Company names need not be unique: a clash would tell one tenant about another.
    app.tenant("Other").await;
    let same = app
        .patch("/api/v1/company", &t.admin, json!({"name": "other"}))
        .await;
    assert_eq!(same.status, StatusCode::OK);
}

/// The staff directory: every role reads its colleagues' names and roles
/// (to assign tickets), without e-mail addresses or rates, active users
/// only, and only its own company's.
#[tokio::test]
async fn every_role_reads_the_staff_directory_without_private_details() {
    let app = TestApp::new().await;
    let t = app.tenant("Directory").await;
    let other = app.tenant("Directory Other").await;
    let tech = app.user(&t, Role::Tech).await;
    let accountant = app.user(&t, Role::Accountant).await;
    let gone = app
        .post("/api/v1/users", &t.admin, json!({"email": "gone@people.example", "name": "Gone Gary", "role": "tech", "password": PASSWORD}))
        .await;
    assert_eq!(gone.status, StatusCode::CREATED, "{}", gone.body);
    let r = app
        .delete(&format!("/api/v1/users/{}", gone.id()), &t.admin)
        .await;
    assert!(r.status.is_success(), "{}", r.body);
    for token in [&tech, &accountant, &t.admin] {
        let r = app.get("/api/v1/staff", token).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let text = r.body.to_string();
        assert_eq!(r.body["total"], 3, "{text}");
        assert!(!text.contains('@'), "no e-mail addresses: {text}");
        assert!(
            !text.contains("Gone Gary") && !text.contains("hourly_rate"),
            "{text}"
        );
        let roles: Vec<&str> = r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["role"].as_str().unwrap())
            .collect();
        assert!(
            roles.contains(&"admin") && roles.contains(&"accountant"),
            "{roles:?}"
        );
    }
    let r = app.get("/api/v1/staff?role=tech", &tech).await;
    assert_eq!(r.body["total"], 1, "{}", r.body);
    let r = app.get("/api/v1/staff", &other.admin).await;
    assert_eq!(r.body["total"], 1, "only its own admin: {}", r.body);
    // No search: it would reach the hidden e-mail addresses.
    let r = app.get("/api/v1/staff?q=people", &tech).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
}
