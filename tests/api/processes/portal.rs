//! The portal's sign-in link is single use across API processes: the same
//! link presented at once through two `nestogy api` processes signs in
//! exactly once.

use serde_json::{Value, json};

use super::users::api_with;
use crate::common::{TEST_SECRET_KEY, TestApp};

#[tokio::test]
async fn a_sign_in_link_consumed_through_two_api_processes_at_once_signs_in_once() {
    let app = TestApp::new().await;
    let t = app.tenant("Portal Processes").await;
    let slug = app.get("/api/v1/company", &t.admin).await.body["portal_slug"]
        .as_str()
        .unwrap()
        .to_owned();
    let client = app.client(&t.admin, "Client Co").await;
    let r = app
        .post(
            &format!("/api/v1/clients/{client}/contacts"),
            &t.admin,
            json!({"name": "Ann", "email": "ann@processes.example", "portal_access": true}),
        )
        .await;
    assert_eq!(r.status.as_u16(), 201, "{}", r.body);

    // Links are mailed sealed under the secret key.
    let env = [("NESTOGY_SECRET_KEY", TEST_SECRET_KEY)];
    let ((_a, a), (_b, b)) = tokio::join!(api_with(&app, &env), api_with(&app, &env));
    let http = reqwest::Client::new();
    let browser = "the-browser-key-of-this-test";
    // Asked through A: the processes run on the system clock.
    let r = http
        .post(format!("{a}/api/v1/portal/{slug}/auth/magic-link"))
        .json(&json!({"email": "ann@processes.example", "browser_key": browser}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let link = crate::portal::mailed_link(&app, "portal_sign_in").await;
    let token = link.rsplit('/').next().unwrap().to_owned();

    let consume = |base: String| {
        let (http, slug, token) = (http.clone(), slug.clone(), token.clone());
        async move {
            let r = http
                .post(format!(
                    "{base}/api/v1/portal/{slug}/auth/magic-link/consume"
                ))
                .json(&json!({"token": token, "browser_key": browser}))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let ((sa, ba), (sb, bb)) = tokio::join!(consume(a.clone()), consume(b.clone()));
        statuses.push(sa);
        statuses.push(sb);
        for (s, body) in [(sa, ba), (sb, bb)] {
            if s == 401 {
                assert_eq!(body["error"]["code"], "link_used", "{body}");
            }
        }
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        7,
        "{statuses:?}"
    );
}

/// Pay pressed at once through two API processes, several times: one
/// payment link (the invoice's row is locked while one is looked for and
/// made).
#[tokio::test]
async fn pay_pressed_through_two_api_processes_at_once_makes_one_payment_link() {
    let app = TestApp::new().await;
    let p = crate::portal::portal(&app, "Pay Processes").await;
    let r = app
        .call(
            axum::http::Method::PUT,
            "/api/v1/company/stripe",
            Some(&p.t.admin),
            Some(json!({"secret_key": "sk_test_51Hprocesses0001", "webhook_secret": "whsec_processes0001"})),
        )
        .await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.body);
    let invoice = app.open_invoice(&p.t.admin, &p.client, "Support").await;
    let _ = crate::portal::signed_in(&app, &p, Some(crate::common::PASSWORD)).await;

    let env = [("NESTOGY_SECRET_KEY", TEST_SECRET_KEY)];
    let ((_a, a), (_b, b)) = tokio::join!(api_with(&app, &env), api_with(&app, &env));
    let http = reqwest::Client::new();
    // Signed in through A: the processes run on the system clock.
    let r = http
        .post(format!("{a}/api/v1/portal/{}/auth/login", p.slug))
        .json(&json!({"email": p.email, "password": crate::common::PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let token = r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let pay = |base: String| {
        let (http, token, invoice) = (http.clone(), token.clone(), invoice.clone());
        async move {
            let r = http
                .post(format!("{base}/api/v1/portal/invoices/{invoice}/pay"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let body = r.json::<Value>().await.unwrap_or(Value::Null);
            (status, body["id"].as_str().unwrap_or_default().to_owned())
        }
    };
    let mut links = std::collections::BTreeSet::new();
    for _ in 0..4 {
        let ((sa, la), (sb, lb)) = tokio::join!(pay(a.clone()), pay(b.clone()));
        assert_eq!((sa, sb), (202, 202));
        links.insert(la);
        links.insert(lb);
    }
    assert_eq!(links.len(), 1, "{links:?}");
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM payment_links WHERE invoice_id = '{invoice}'"
        ))
        .await,
        1
    );
}
