use std::collections::HashSet;

use axum::http::StatusCode;
use serde_json::json;

use crate::common::TestApp;

#[tokio::test]
async fn client_crud_archive_and_restore() {
    let app = TestApp::new().await;
    let t = app.tenant("Crud").await;
    let created = app
        .post("/api/v1/clients", &t.admin, json!({"name": "  Zürich Bank  ", "email": "it@zb.example", "website": "https://zb.example"}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.body["name"], "Zürich Bank", "names are trimmed");
    let id = created.id();

    let patched = app
        .patch(
            &format!("/api/v1/clients/{id}"),
            &t.admin,
            json!({"phone": "+41 44 000", "email": null}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK);
    assert_eq!(patched.body["phone"], "+41 44 000");
    assert!(patched.body["email"].is_null(), "null clears");
    assert_eq!(
        patched.body["website"], "https://zb.example",
        "absent stays"
    );

    let archived = app
        .post(
            &format!("/api/v1/clients/{id}/archive"),
            &t.admin,
            json!({}),
        )
        .await;
    assert!(archived.body["archived_at"].is_string());
    assert_eq!(app.get("/api/v1/clients", &t.admin).await.body["total"], 0);
    assert_eq!(
        app.get("/api/v1/clients?status=archived", &t.admin)
            .await
            .body["total"],
        1
    );
    assert_eq!(
        app.get("/api/v1/clients?status=all", &t.admin).await.body["total"],
        1
    );
    let restored = app
        .post(
            &format!("/api/v1/clients/{id}/restore"),
            &t.admin,
            json!({}),
        )
        .await;
    assert!(restored.body["archived_at"].is_null());
    assert_eq!(app.get("/api/v1/clients", &t.admin).await.body["total"], 1);

    assert_eq!(
        app.delete(&format!("/api/v1/clients/{id}"), &t.admin)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&format!("/api/v1/clients/{id}"), &t.admin)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.delete(&format!("/api/v1/clients/{id}"), &t.admin)
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    let audit = app
        .get(&format!("/api/v1/audit?entity_id={id}"), &t.admin)
        .await;
    let actions: Vec<&str> = audit.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "client.deleted",
            "client.restored",
            "client.archived",
            "client.updated",
            "client.created"
        ]
    );
}

#[tokio::test]
async fn pagination_walks_every_client_once_and_search_filters() {
    let app = TestApp::new().await;
    let t = app.tenant("Pages").await;
    for i in 0..120 {
        // Duplicate names on purpose: the cursor must break ties by id.
        app.client(&t.admin, &format!("Client {:03}", i / 2)).await;
    }
    let mut seen = HashSet::new();
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            None => "/api/v1/clients?limit=50".to_owned(),
            Some(c) => format!("/api/v1/clients?limit=50&cursor={c}"),
        };
        let r = app.get(&path, &t.admin).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["total"], 120);
        pages += 1;
        for c in r.body["data"].as_array().unwrap() {
            assert!(
                seen.insert(c["id"].as_str().unwrap().to_owned()),
                "duplicate across pages"
            );
            names.push(c["name"].as_str().unwrap().to_owned());
        }
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 120);
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "ordered by name");

    let found = app.get("/api/v1/clients?q=client%2005", &t.admin).await;
    assert_eq!(found.body["total"], 20, "{}", found.body);
    // LIKE wildcards in a search are literal.
    let none = app.get("/api/v1/clients?q=%25", &t.admin).await;
    assert_eq!(none.body["total"], 0);
}

#[tokio::test]
async fn contacts_have_unique_valid_emails_per_client_and_one_primary() {
    let app = TestApp::new().await;
    let t = app.tenant("Contacts").await;
    let a = app.client(&t.admin, "A").await;
    let b = app.client(&t.admin, "B").await;
    let path_a = format!("/api/v1/clients/{a}/contacts");
    let first = app
        .post(
            &path_a,
            &t.admin,
            json!({"name": "Ann", "email": "ann@a.example", "is_primary": true}),
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let dup = app
        .post(
            &path_a,
            &t.admin,
            json!({"name": "Ann 2", "email": "ANN@a.example"}),
        )
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    assert_eq!(dup.error_code(), "contact_email_taken");
    // The same address at another client is fine.
    let other = app
        .post(
            &format!("/api/v1/clients/{b}/contacts"),
            &t.admin,
            json!({"name": "Ann", "email": "ann@a.example"}),
        )
        .await;
    assert_eq!(other.status, StatusCode::CREATED);

    let second = app
        .post(
            &path_a,
            &t.admin,
            json!({"name": "Bob", "email": "bob@a.example", "is_primary": true}),
        )
        .await;
    let list = app.get(&path_a, &t.admin).await;
    let primaries: Vec<&str> = list.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["is_primary"] == true)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(primaries, ["Bob"]);

    // Renaming into a taken address conflicts too.
    let clash = app
        .patch(
            &format!("{path_a}/{}", second.id()),
            &t.admin,
            json!({"email": "ann@a.example"}),
        )
        .await;
    assert_eq!(clash.status, StatusCode::CONFLICT);

    // A contact is only reachable under its own client.
    let wrong_parent = app
        .get(
            &format!("/api/v1/clients/{b}/contacts/{}", first.id()),
            &t.admin,
        )
        .await;
    assert_eq!(wrong_parent.status, StatusCode::NOT_FOUND);

    let searched = app.get(&format!("{path_a}?q=bob"), &t.admin).await;
    assert_eq!(searched.body["total"], 1);
}

#[tokio::test]
async fn locations_keep_structured_addresses() {
    let app = TestApp::new().await;
    let t = app.tenant("Sites").await;
    let c = app.client(&t.admin, "Acme").await;
    let path = format!("/api/v1/clients/{c}/locations");
    let l = app
        .post(&path, &t.admin, json!({"name": "東京 office", "address": {"line1": "1-1 Chiyoda", "city": "Tokyo", "country": "jp"}}))
        .await;
    assert_eq!(l.status, StatusCode::CREATED, "{}", l.body);
    assert_eq!(l.body["address"]["country"], "JP");
    assert_eq!(l.body["name"], "東京 office");
    let patched = app
        .patch(
            &format!("{path}/{}", l.id()),
            &t.admin,
            json!({"address": {"city": "Osaka"}}),
        )
        .await;
    assert_eq!(patched.body["address"], json!({"city": "Osaka"}));
    let unknown_field = app
        .post(
            &path,
            &t.admin,
            json!({"name": "X", "address": {"street": "Main"}}),
        )
        .await;
    assert_eq!(unknown_field.status, StatusCode::UNPROCESSABLE_ENTITY);
    // Deleting the client deletes its locations.
    app.delete(&format!("/api/v1/clients/{c}"), &t.admin).await;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM locations")
        .fetch_one(&app.owner)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

/// `ids` answers the named clients only: this tenant's, archived ones with
/// `status=all`, never another tenant's; a malformed id or more than 200
/// is a 400.
#[tokio::test]
async fn the_list_answers_the_clients_ids_names() {
    let app = TestApp::new().await;
    let t = app.tenant("By ids").await;
    let other = app.tenant("Other by ids").await;
    let a = app.client(&t.admin, "Alpha").await;
    let b = app.client(&t.admin, "Beta").await;
    let _c = app.client(&t.admin, "Gamma").await;
    let theirs = app.client(&other.admin, "Theirs").await;
    let r = app
        .post(&format!("/api/v1/clients/{b}/archive"), &t.admin, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let names = |r: &crate::common::Response| -> Vec<String> {
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let r = app
        .get(
            &format!("/api/v1/clients?status=all&ids={a},{b},{theirs},{a}"),
            &t.admin,
        )
        .await;
    assert_eq!(names(&r), ["Alpha", "Beta"], "{}", r.body);
    assert_eq!(r.body["total"], 2);
    let r = app
        .get(&format!("/api/v1/clients?ids={a}%2C{b}"), &t.admin)
        .await;
    assert_eq!(names(&r), ["Alpha"], "active only by default");
    let r = app.get("/api/v1/clients?ids=", &t.admin).await;
    assert_eq!(names(&r).len(), 2, "an empty ids filters nothing");

    let r = app.get("/api/v1/clients?ids=not-a-uuid", &t.admin).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.error_code(), "invalid_query");
    let many = (0..201)
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect::<Vec<_>>()
        .join(",");
    let r = app
        .get(&format!("/api/v1/clients?ids={many}"), &t.admin)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body.to_string().contains("at most 200"), "{}", r.body);
}
