//! Projects end to end: validation, filters and pages, tasks and the
//! progress they give, time spent against budget, and linking tickets.

use axum::http::StatusCode;
use nestogy_domain::kernel::roles::Role;
use serde_json::json;

use crate::common::{TestApp, field_code, fields};
use crate::time_entries::{me, project};

#[tokio::test]
async fn projects_are_validated_filtered_and_paged() {
    let app = TestApp::new().await;
    let t = app.tenant("Projects").await;
    let acme = app.client(&t.admin, "Acme").await;
    let globex = app.client(&t.admin, "Globex").await;
    let tech = app.user(&t, Role::Tech).await;
    let tech_id = me(&app, &tech).await;
    let accountant = app.user(&t, Role::Accountant).await;
    let accountant_id = me(&app, &accountant).await;

    let r = app
        .post(
            "/api/v1/projects",
            &tech,
            json!({"client_id": acme, "name": "Office move", "description": "Two floors",
                   "start_date": "2026-12-01", "due_date": "2026-12-20", "manager_id": tech_id,
                   "budget_hours": "40", "budget_amount": "4000.50"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["status"], "planned");
    assert_eq!(r.body["budget_hours"], "40");
    assert_eq!(r.body["budget_amount"], "4000.50");
    assert_eq!(r.body["progress"]["percent"], 0);
    assert_eq!(r.body["spent"]["minutes"], 0);
    let moved = r.id();

    for (body, field, code) in [
        (json!({"client_id": acme, "name": " "}), "name", "required"),
        (
            json!({"client_id": acme, "name": "x", "start_date": "2026-12-02", "due_date": "2026-12-01"}),
            "due_date",
            "before_start",
        ),
        (
            json!({"client_id": acme, "name": "x", "budget_hours": "-1"}),
            "budget_hours",
            "invalid",
        ),
        (
            json!({"client_id": acme, "name": "x", "budget_amount": "1.001"}),
            "budget_amount",
            "invalid",
        ),
        (
            json!({"client_id": acme, "name": "x", "manager_id": accountant_id}),
            "manager_id",
            "invalid",
        ),
    ] {
        let r = app.post("/api/v1/projects", &tech, body.clone()).await;
        assert!(fields(&r).contains(&field.to_owned()), "{body}: {}", r.body);
        assert_eq!(field_code(&r, field), code, "{body}");
    }
    let r = app
        .post(
            "/api/v1/projects",
            &tech,
            json!({"client_id": "00000000-0000-7000-8000-000000000000", "name": "x"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .post(
            "/api/v1/projects",
            &tech,
            json!({"client_id": acme, "name": "x", "status": "paused"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);

    // PATCH: absent fields stay, null clears, bad dates are refused.
    let path = format!("/api/v1/projects/{moved}");
    let r = app
        .patch(
            &path,
            &tech,
            json!({"status": "active", "description": null}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "active");
    assert!(r.body["description"].is_null());
    assert_eq!(r.body["name"], "Office move");
    let r = app
        .patch(&path, &tech, json!({"start_date": "2026-12-25"}))
        .await;
    assert_eq!(fields(&r), ["due_date"]);
    let r = app.patch(&path, &tech, json!({"client_id": globex})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);

    for (client, name, status) in [
        (&acme, "Firewall", "done"),
        (&globex, "Backup audit", "active"),
        (&globex, "Phones", "on_hold"),
    ] {
        let id = project(&app, &tech, client, name).await;
        app.patch(
            &format!("/api/v1/projects/{id}"),
            &tech,
            json!({"status": status}),
        )
        .await;
    }
    let total = |q: &str| {
        let q = q.to_owned();
        let app = &app;
        let token = accountant.clone();
        async move {
            let r = app.get(&format!("/api/v1/projects?{q}"), &token).await;
            assert_eq!(r.status, StatusCode::OK, "{q}: {}", r.body);
            r.body["total"].as_i64().unwrap()
        }
    };
    assert_eq!(total("").await, 4);
    assert_eq!(total(&format!("client_id={globex}")).await, 2);
    assert_eq!(total("status=active").await, 2);
    assert_eq!(total(&format!("manager_id={tech_id}")).await, 1);
    assert_eq!(total("q=AUDIT").await, 1);
    let first = app.get("/api/v1/projects?limit=3", &tech).await;
    assert_eq!(first.body["data"].as_array().unwrap().len(), 3);
    assert_eq!(first.body["data"][0]["name"], "Phones", "newest first");
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let second = app
        .get(&format!("/api/v1/projects?limit=3&cursor={cursor}"), &tech)
        .await;
    assert_eq!(second.body["data"][0]["name"], "Office move");
    assert!(second.body["next_cursor"].is_null());
    // Accountants read, but do not write.
    let r = app.patch(&path, &accountant, json!({"name": "x"})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn progress_comes_from_tasks_and_spent_from_time() {
    let app = TestApp::new().await;
    let t = app.tenant("Progress").await;
    let acme = app.client(&t.admin, "Acme").await;
    let p = project(&app, &t.admin, &acme, "Rollout").await;
    let tasks_path = format!("/api/v1/projects/{p}/tasks");
    let tech = app.user(&t, Role::Tech).await;
    let tech_id = me(&app, &tech).await;
    let mut tasks = Vec::new();
    for title in ["Survey", "Order", "Install", "Train"] {
        let r = app
            .post(
                &tasks_path,
                &tech,
                json!({"title": title, "assignee_id": tech_id, "due_date": "2026-12-10"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        assert_eq!(r.body["status"], "todo");
        tasks.push(r.id());
    }
    let task = |i: usize| format!("{tasks_path}/{}", tasks[i]);
    let r = app.patch(&task(0), &tech, json!({"status": "done"})).await;
    assert!(r.body["completed_at"].is_string(), "{}", r.body);
    app.patch(&task(1), &tech, json!({"status": "cancelled"}))
        .await;
    app.patch(&task(2), &tech, json!({"status": "in_progress"}))
        .await;
    let r = app.get(&format!("/api/v1/projects/{p}"), &tech).await;
    // One done of three that count (the cancelled one does not).
    assert_eq!(
        r.body["progress"],
        json!({"tasks_total": 4, "tasks_done": 1, "tasks_cancelled": 1, "percent": 33})
    );
    app.patch(&task(2), &tech, json!({"status": "done"})).await;
    let r = app.get(&format!("/api/v1/projects/{p}"), &tech).await;
    assert_eq!(r.body["progress"]["percent"], 66);
    // Reopened, a task loses its completion time.
    let r = app.patch(&task(0), &tech, json!({"status": "todo"})).await;
    assert!(r.body["completed_at"].is_null());
    let r = app.get(&format!("{tasks_path}?status=done"), &tech).await;
    assert_eq!(r.body["total"], 1);
    let r = app
        .get(
            &format!("{tasks_path}?assignee_id={tech_id}&limit=2"),
            &tech,
        )
        .await;
    assert_eq!(r.body["total"], 4);
    assert_eq!(r.body["data"][0]["title"], "Survey", "oldest first");
    assert!(r.body["next_cursor"].is_string());

    // Bad tasks.
    let accountant_id = me(&app, &app.user(&t, Role::Accountant).await).await;
    let r = app
        .post(
            &tasks_path,
            &tech,
            json!({"title": "x", "assignee_id": accountant_id}),
        )
        .await;
    assert_eq!(fields(&r), ["assignee_id"]);
    let r = app.post(&tasks_path, &tech, json!({"title": ""})).await;
    assert_eq!(fields(&r), ["title"]);
    let r = app
        .get(
            &format!("{tasks_path}/00000000-0000-7000-8000-000000000000"),
            &tech,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Time on the project, on a task and on a linked ticket all count.
    let ticket = app
        .post(
            "/api/v1/tickets",
            &tech,
            json!({"subject": "Switch dead", "description": "x", "client_id": acme}),
        )
        .await
        .id();
    let r = app
        .call(
            axum::http::Method::PUT,
            &format!("/api/v1/projects/{p}/tickets/{ticket}"),
            Some(&tech),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    for body in [
        json!({"project_id": p, "minutes": 60, "description": "Plan", "rate": "100"}),
        json!({"task_id": tasks[3], "minutes": 30, "description": "Train", "rate": "100"}),
        json!({"ticket_id": ticket, "minutes": 15, "description": "Swap", "rate": "120"}),
        json!({"project_id": p, "minutes": 45, "description": "Internal", "billable": false}),
    ] {
        let r = app.post("/api/v1/time-entries", &tech, body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let r = app.get(&format!("/api/v1/projects/{p}"), &tech).await;
    assert_eq!(
        r.body["spent"],
        json!({"minutes": 150, "hours": "2.50", "billable_amount": "180.00"})
    );
    // Deleting a task keeps its time with the project.
    assert_eq!(
        app.delete(&task(3), &tech).await.status,
        StatusCode::NO_CONTENT
    );
    let r = app.get(&format!("/api/v1/projects/{p}"), &tech).await;
    assert_eq!(r.body["spent"]["minutes"], 150);
    assert_eq!(r.body["progress"]["tasks_total"], 3);
}

#[tokio::test]
async fn tickets_link_to_their_clients_projects() {
    let app = TestApp::new().await;
    let t = app.tenant("Links").await;
    let acme = app.client(&t.admin, "Acme").await;
    let globex = app.client(&t.admin, "Globex").await;
    let p = project(&app, &t.admin, &acme, "Rollout").await;
    let q = project(&app, &t.admin, &acme, "Audit").await;
    let put = |path: String| {
        let app = &app;
        let token = t.admin.clone();
        async move {
            app.call(axum::http::Method::PUT, &path, Some(&token), None)
                .await
        }
    };
    // A ticket without client takes the project's.
    let loose = app
        .post(
            "/api/v1/tickets",
            &t.admin,
            json!({"subject": "Loose", "description": "x"}),
        )
        .await
        .id();
    let r = put(format!("/api/v1/projects/{p}/tickets/{loose}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["subject"], "Loose");
    let ticket = app.get(&format!("/api/v1/tickets/{loose}"), &t.admin).await;
    assert_eq!(ticket.body["project_id"], p.as_str());
    assert_eq!(ticket.body["client_id"], acme.as_str());
    // Linking again changes nothing; linking elsewhere moves it.
    let r = put(format!("/api/v1/projects/{p}/tickets/{loose}")).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = put(format!("/api/v1/projects/{q}/tickets/{loose}")).await;
    assert_eq!(r.status, StatusCode::OK);
    let listed = app
        .get(&format!("/api/v1/projects/{p}/tickets"), &t.admin)
        .await;
    assert_eq!(listed.body["total"], 0);
    let listed = app
        .get(&format!("/api/v1/projects/{q}/tickets"), &t.admin)
        .await;
    assert_eq!(listed.body["total"], 1);
    assert_eq!(listed.body["data"][0]["id"], loose.as_str());
    // Another client's ticket is refused.
    let foreign = app
        .post(
            "/api/v1/tickets",
            &t.admin,
            json!({"subject": "Globex", "description": "x", "client_id": globex}),
        )
        .await
        .id();
    let r = put(format!("/api/v1/projects/{p}/tickets/{foreign}")).await;
    assert_eq!(fields(&r), ["ticket_id"]);
    assert_eq!(field_code(&r, "ticket_id"), "other_client");
    let r = put(format!(
        "/api/v1/projects/{p}/tickets/00000000-0000-7000-8000-000000000000"
    ))
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Unlink; unlinking what is not linked is a 404.
    let path = format!("/api/v1/projects/{q}/tickets/{loose}");
    assert_eq!(
        app.delete(&path, &t.admin).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.delete(&path, &t.admin).await.status,
        StatusCode::NOT_FOUND
    );
    // Deleting a project unlinks its tickets; one with time is kept.
    put(format!("/api/v1/projects/{q}/tickets/{loose}")).await;
    assert_eq!(
        app.delete(&format!("/api/v1/projects/{q}"), &t.admin)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let ticket = app.get(&format!("/api/v1/tickets/{loose}"), &t.admin).await;
    assert!(ticket.body["project_id"].is_null());
    app.post(
        "/api/v1/time-entries",
        &t.admin,
        json!({"project_id": p, "minutes": 5, "description": "x", "rate": "1"}),
    )
    .await;
    let r = app.delete(&format!("/api/v1/projects/{p}"), &t.admin).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.error_code(), "project_has_time");
    // A client with projects is archived, not deleted.
    let r = app
        .delete(&format!("/api/v1/clients/{acme}"), &t.admin)
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
}
