//! The ticket search vector's trigger across processes: notes added to one
//! ticket through two API processes at once, while its subject changes,
//! each lock the ticket's row in their own transaction; every note is
//! stored, none fails, and the ticket is found by every note's words.

use serde_json::json;

use super::users::{api, sign_in};
use crate::common::{PASSWORD, TestApp};

#[tokio::test]
async fn notes_through_two_api_processes_at_once_all_reach_the_search_vector() {
    let app = TestApp::new().await;
    let t = app.tenant("Search Two Processes").await;
    let r = app
        .post(
            "/api/v1/users",
            &t.admin,
            json!({"email": "sam@search.example", "name": "Sam", "role": "tech", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status.as_u16(), 201, "{}", r.body);
    let r = app
        .post(
            "/api/v1/tickets",
            &t.admin,
            json!({"subject": "Shared printer"}),
        )
        .await;
    assert_eq!(r.status.as_u16(), 201, "{}", r.body);
    let id = r.id();
    let ((_a, a), (_b, b)) = tokio::join!(api(&app), api(&app));
    let token = sign_in(&a, "sam@search.example").await;
    let client = reqwest::Client::new();
    let send = |base: String, n: usize| {
        let (client, token, id) = (client.clone(), token.clone(), id.clone());
        async move {
            let r = if n % 10 == 9 {
                client
                    .patch(format!("{base}/api/v1/tickets/{id}"))
                    .bearer_auth(&token)
                    .json(&json!({"subject": format!("Shared printer round {n}")}))
                    .send()
                    .await
            } else {
                client
                    .post(format!("{base}/api/v1/tickets/{id}/messages"))
                    .bearer_auth(&token)
                    .json(&json!({"kind": "note", "body": format!("note zq{n}x checked")}))
                    .send()
                    .await
            };
            r.expect("request").status().as_u16()
        }
    };
    let all = futures_util::future::join_all((0..60).map(|n| {
        let base = if n % 2 == 0 { a.clone() } else { b.clone() };
        send(base, n)
    }))
    .await;
    assert!(
        all.iter().all(|s| *s == 200 || *s == 201),
        "every note and subject change succeeds: {all:?}"
    );
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM ticket_messages WHERE ticket_id = $1::uuid AND kind = 'note'",
    )
    .bind(&id)
    .fetch_one(&app.owner)
    .await
    .expect("count");
    assert_eq!(stored, 54);
    for n in (0..60).filter(|n| n % 10 != 9) {
        let r = app
            .get(&format!("/api/v1/tickets?q=zq{n}x"), &t.admin)
            .await;
        assert_eq!(r.body["total"], 1, "note {n}: {}", r.body);
    }
}
