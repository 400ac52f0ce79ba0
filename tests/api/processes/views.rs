//! Saved views' limit across processes: one user saving views through two
//! API processes at once keeps at most 50 (the count runs under a lock on
//! the user's row in PostgreSQL, not in a process's memory).

use serde_json::json;

use super::users::{api, sign_in};
use crate::common::{PASSWORD, TestApp};

#[tokio::test]
async fn saves_through_two_api_processes_at_once_keep_fifty_views() {
    let app = TestApp::new().await;
    let t = app.tenant("Views Two Processes").await;
    let r = app
        .post(
            "/api/v1/users",
            &t.admin,
            json!({"email": "vera@views.example", "name": "Vera", "role": "tech", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status.as_u16(), 201, "{}", r.body);
    let ((_a, a), (_b, b)) = tokio::join!(api(&app), api(&app));
    let token = sign_in(&a, "vera@views.example").await;
    let client = reqwest::Client::new();
    let save = |base: String, name: String| {
        let (client, token) = (client.clone(), token.clone());
        async move {
            client
                .post(format!("{base}/api/v1/tickets/views"))
                .bearer_auth(&token)
                .json(&json!({"name": name, "query": "status=open"}))
                .send()
                .await
                .expect("save")
                .status()
                .as_u16()
        }
    };
    // Ten already kept.
    for i in 0..10 {
        assert_eq!(save(a.clone(), format!("kept {i}")).await, 201);
    }
    // Sixty more at once, alternating between the processes.
    let all = futures_util::future::join_all((0..60).map(|i| {
        let base = if i % 2 == 0 { a.clone() } else { b.clone() };
        save(base, format!("burst {i}"))
    }))
    .await;
    let created = all.iter().filter(|s| **s == 201).count();
    let refused = all.iter().filter(|s| **s == 409).count();
    assert_eq!((created, refused), (40, 20), "{all:?}");
    let kept: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM ticket_views v JOIN users u ON u.id = v.user_id \
         WHERE u.email = 'vera@views.example'",
    )
    .fetch_one(&app.owner)
    .await
    .expect("count");
    assert_eq!(kept, 50);
}
