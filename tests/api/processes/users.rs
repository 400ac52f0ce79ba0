//! Two API processes: a user changed through one is seen as changed by the
//! other, although the other keeps users' states (the `users` trigger's
//! NOTIFY makes it forget).

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{PASSWORD, Proc, TestApp, eventually};

/// One secret for both processes, so a token from one works on the other.
const JWT_SECRET: &str = "a secret both API processes of this test share";

/// `nestogy api` on a free port of loopback; returns it with its base URL
/// once it answers.
pub(super) async fn api(app: &TestApp) -> (Proc, String) {
    api_with(app, &[]).await
}

/// [`api`] with more environment variables.
pub(super) async fn api_with(app: &TestApp, env: &[(&str, &str)]) -> (Proc, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let bind = format!("127.0.0.1:{port}");
    let mut vars = vec![
        ("NESTOGY_BIND", bind.as_str()),
        ("NESTOGY_JWT_SECRET", JWT_SECRET),
    ];
    vars.extend_from_slice(env);
    let proc = Proc::spawn(app, "api", &vars);
    let base = format!("http://{bind}");
    let client = reqwest::Client::new();
    eventually("the API process to answer", Duration::from_secs(30), || {
        let (client, url) = (client.clone(), format!("{base}/healthz"));
        async move { client.get(url).send().await.is_ok() }
    })
    .await;
    (proc, base)
}

pub(super) async fn sign_in(base: &str, email: &str) -> String {
    let r: Value = reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .expect("sign in")
        .json()
        .await
        .expect("json");
    r["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token: {r}"))
        .to_owned()
}

async fn status(base: &str, path: &str, token: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_user_changed_through_one_api_process_is_changed_on_another_at_once() {
    let app = TestApp::new().await;
    let t = app.tenant("Two processes").await;
    let r = app
        .post(
            "/api/v1/users",
            &t.admin,
            json!({"email": "ada@two.example", "name": "Ada", "role": "admin", "password": PASSWORD}),
        )
        .await;
    let ada = r.id();

    let ((_a, a), (_b, b)) = tokio::join!(api(&app), api(&app));
    // Signed in through A: the processes run on the system clock.
    let (admin, token) = (
        sign_in(&a, "admin@two-processes.example").await,
        sign_in(&a, "ada@two.example").await,
    );
    // B reads Ada's state, and keeps it.
    for _ in 0..3 {
        assert_eq!(status(&b, "/api/v1/users", &token).await, 200);
    }

    // Demoted through A: B answers 403 to her old token, as soon as the
    // notification arrives (well within the deadline).
    let client = reqwest::Client::new();
    let r = client
        .patch(format!("{a}/api/v1/users/{ada}"))
        .bearer_auth(&admin)
        .json(&json!({"role": "tech"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{:?}", r.json::<Value>().await);
    eventually("B to see the demotion", Duration::from_secs(5), || {
        let (b, token) = (b.clone(), token.clone());
        async move { status(&b, "/api/v1/users", &token).await == 403 }
    })
    .await;
    assert_eq!(status(&b, "/api/v1/clients", &token).await, 200);

    // Deactivated through A: 401 on B.
    let r = client
        .delete(format!("{a}/api/v1/users/{ada}"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    eventually("B to see the deactivation", Duration::from_secs(5), || {
        let (b, token) = (b.clone(), token.clone());
        async move { status(&b, "/api/v1/clients", &token).await == 401 }
    })
    .await;
}
