//! Merging tickets across API processes: two merges of the same pair in
//! opposite directions at once never make a cycle (one wins, the other is
//! refused), and the same merge at once moves everything once.

use serde_json::{Value, json};

use super::users::{api_with, sign_in};
use crate::common::TestApp;

#[tokio::test]
async fn merges_through_two_api_processes_at_once_never_cross() {
    let app = TestApp::new().await;
    let t = app.tenant("Merge Processes").await;
    let client = app.client(&t.admin, "Client Co").await;
    let ((_a, a), (_b, b)) = tokio::join!(api_with(&app, &[]), api_with(&app, &[]));
    let http = reqwest::Client::new();
    // Signed in through A: the processes run on the system clock.
    let token = sign_in(&a, "admin@merge-processes.example").await;
    let open = async |subject: &str| {
        let body = json!({"subject": subject, "client_id": client});
        let r = app.post("/api/v1/tickets", &t.admin, body).await;
        assert_eq!(r.status.as_u16(), 201, "{}", r.body);
        let id = r.id();
        let note = json!({"kind": "note", "body": format!("about {subject}")});
        let r = app
            .post(&format!("/api/v1/tickets/{id}/messages"), &t.admin, note)
            .await;
        assert_eq!(r.status.as_u16(), 201, "{}", r.body);
        id
    };
    let merge = |base: String, from: String, into: String| {
        let (http, token) = (http.clone(), token.clone());
        async move {
            let r = http
                .post(format!("{base}/api/v1/tickets/{from}/merge"))
                .bearer_auth(token)
                .json(&json!({ "into": into }))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    for round in 0..4 {
        // Opposite directions: one merge, one refusal, no cycle.
        let (x, y) = (
            open(&format!("x{round}")).await,
            open(&format!("y{round}")).await,
        );
        let ((sa, ba), (sb, bb)) = tokio::join!(
            merge(a.clone(), x.clone(), y.clone()),
            merge(b.clone(), y.clone(), x.clone())
        );
        let mut statuses = [sa, sb];
        statuses.sort();
        assert_eq!(statuses, [200, 409], "round {round}: {ba} {bb}");
        for (s, body) in [(sa, &ba), (sb, &bb)] {
            if s == 409 {
                let code = body["error"]["code"].as_str().unwrap_or_default();
                assert!(
                    ["target_merged", "already_merged", "ticket_merged"].contains(&code),
                    "{body}"
                );
            }
        }
        // The same merge at once: both answer it, it happens once.
        let (p, q) = (
            open(&format!("p{round}")).await,
            open(&format!("q{round}")).await,
        );
        let ((sa, _), (sb, _)) = tokio::join!(
            merge(a.clone(), p.clone(), q.clone()),
            merge(b.clone(), p.clone(), q.clone())
        );
        assert_eq!((sa, sb), (200, 200), "round {round}");
        assert_eq!(
            app.count(&format!(
                "SELECT count(*) FROM ticket_moves WHERE from_ticket_id = '{p}'"
            ))
            .await,
            1
        );
        assert_eq!(
            app.count(&format!(
                "SELECT count(*) FROM ticket_messages WHERE ticket_id = '{q}'"
            ))
            .await,
            2,
            "both notes on the target, once each"
        );
    }
    assert_eq!(
        app.count(
            "SELECT count(*) FROM tickets t JOIN tickets u ON u.id = t.merged_into \
             WHERE u.merged_into IS NOT NULL"
        )
        .await,
        0,
        "no ticket is merged into a merged one"
    );
}
