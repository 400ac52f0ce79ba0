use axum::http::{Method, StatusCode, header};
use chrono::Duration;
use serde_json::json;

use crate::common::{PASSWORD, TestApp};

async fn refresh(app: &TestApp, token: &str) -> crate::common::Response {
    app.call(
        Method::POST,
        "/api/v1/auth/refresh",
        None,
        Some(json!({"refresh_token": token})),
    )
    .await
}

#[tokio::test]
async fn login_issues_tokens_and_wrong_credentials_look_alike() {
    let app = TestApp::new().await;
    let _t = app.tenant("Login Co").await;
    let ok = app.login("ADMIN@login-co.example", PASSWORD).await;
    assert_eq!(
        ok.status,
        StatusCode::OK,
        "e-mail is case-insensitive: {}",
        ok.body
    );
    assert_eq!(ok.body["token_type"], "Bearer");
    assert_eq!(ok.body["expires_in"], 900);
    let access = ok.body["access_token"].as_str().unwrap();
    let me = app.get("/api/v1/auth/me", access).await;
    assert_eq!(me.body["user"]["email"], "admin@login-co.example");
    assert!(me.body["user"].get("password_hash").is_none());

    let wrong_pw = app
        .login("admin@login-co.example", "not the password")
        .await;
    let unknown = app.login("nobody@login-co.example", PASSWORD).await;
    assert_eq!(wrong_pw.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        wrong_pw.body, unknown.body,
        "an unknown e-mail must not be distinguishable"
    );
    assert_eq!(wrong_pw.error_code(), "invalid_credentials");

    // Sign-ins and failures are audited.
    let audit = app.get("/api/v1/audit?entity_type=user", access).await;
    let actions: Vec<&str> = audit.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"auth.login"), "{actions:?}");
    assert!(actions.contains(&"auth.login_failed"), "{actions:?}");
}

#[tokio::test]
async fn access_tokens_expire_on_the_injected_clock() {
    let app = TestApp::new().await;
    let t = app.tenant("Clock Co").await;
    assert_eq!(
        app.get("/api/v1/auth/me", &t.admin).await.status,
        StatusCode::OK
    );
    app.clock.advance(Duration::minutes(16));
    let r = app.get("/api/v1/auth/me", &t.admin).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.error_code(), "unauthenticated");
    let garbage = app.get("/api/v1/auth/me", "not-a-jwt").await;
    assert_eq!(garbage.status, StatusCode::UNAUTHORIZED);
    let r = app
        .raw(
            axum::http::Request::get("/api/v1/auth/me")
                .header("authorization", "Basic abc")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let app = TestApp::new().await;
    app.tenant("Rotate Co").await;
    let first = app.login("admin@rotate-co.example", PASSWORD).await;
    let r1 = first.body["refresh_token"].as_str().unwrap().to_owned();

    let second = refresh(&app, &r1).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    let r2 = second.body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(r1, r2);
    let access2 = second.body["access_token"].as_str().unwrap();
    assert_eq!(
        app.get("/api/v1/auth/me", access2).await.status,
        StatusCode::OK
    );

    // r1 again: reuse. The family dies, r2 included.
    let reuse = refresh(&app, &r1).await;
    assert_eq!(reuse.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reuse.error_code(), "refresh_token_reused");
    let after = refresh(&app, &r2).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);

    // Another sign-in's family is untouched.
    let other = app.login("admin@rotate-co.example", PASSWORD).await;
    let r3 = other.body["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(refresh(&app, &r3).await.status, StatusCode::OK);

    assert_eq!(
        refresh(&app, "made-up").await.error_code(),
        "invalid_refresh_token"
    );
}

#[tokio::test]
async fn refresh_tokens_expire_and_logout_revokes() {
    let app = TestApp::new().await;
    app.tenant("Logout Co").await;
    let s = app.login("admin@logout-co.example", PASSWORD).await;
    let r = s.body["refresh_token"].as_str().unwrap().to_owned();
    let out = app
        .call(
            Method::POST,
            "/api/v1/auth/logout",
            None,
            Some(json!({"refresh_token": r})),
        )
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert_eq!(refresh(&app, &r).await.status, StatusCode::UNAUTHORIZED);

    let s = app.login("admin@logout-co.example", PASSWORD).await;
    let r = s.body["refresh_token"].as_str().unwrap().to_owned();
    app.clock.advance(Duration::days(31));
    let expired = refresh(&app, &r).await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert_eq!(expired.error_code(), "invalid_refresh_token");
}

#[tokio::test]
async fn five_failures_in_fifteen_minutes_lock_the_account() {
    let app = TestApp::new().await;
    app.tenant("Lock Co").await;
    let email = "admin@lock-co.example";
    for i in 0..5 {
        let r = app.login(email, "wrong password!").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "attempt {i}");
        app.clock.advance(Duration::minutes(1));
    }
    // Locked now: even the right password gets 429 with Retry-After.
    let locked = app.login(email, PASSWORD).await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(locked.error_code(), "account_locked");
    let retry: i64 = locked.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // The first failure was 5 minutes ago: it leaves the window in 10 minutes.
    assert_eq!(retry, 600);

    app.clock.advance(Duration::seconds(retry));
    let ok = app.login(email, PASSWORD).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    // Success cleared the failures: one more wrong password does not lock.
    assert_eq!(
        app.login(email, "wrong password!").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.login(email, PASSWORD).await.status, StatusCode::OK);
}

#[tokio::test]
async fn failures_spread_over_more_than_the_window_do_not_lock() {
    let app = TestApp::new().await;
    app.tenant("Slow Co").await;
    for _ in 0..8 {
        assert_eq!(
            app.login("admin@slow-co.example", "wrong password!")
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
        app.clock.advance(Duration::minutes(4));
    }
    assert_eq!(
        app.login("admin@slow-co.example", PASSWORD).await.status,
        StatusCode::OK
    );
}

pub(crate) fn totp_code(secret: &str, at: chrono::DateTime<chrono::Utc>) -> String {
    let totp = totp_rs::Builder::new()
        .with_secret(totp_rs::Secret::try_from_base32(secret).unwrap())
        .with_account_name("x")
        .build()
        .unwrap();
    totp.generate(at.timestamp() as u64).to_string()
}

#[tokio::test]
async fn totp_enrolment_and_sign_in() {
    let app = TestApp::new().await;
    let t = app.tenant("Totp Co").await;
    let email = "admin@totp-co.example";
    let enroll = app
        .post("/api/v1/auth/totp/enroll", &t.admin, json!({}))
        .await;
    assert_eq!(enroll.status, StatusCode::OK, "{}", enroll.body);
    let secret = enroll.body["secret"].as_str().unwrap().to_owned();
    assert!(
        enroll.body["otpauth_url"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/")
    );
    // Sealed at rest: the database never holds the secret itself.
    let stored: String = sqlx::query_scalar("SELECT totp_secret FROM users WHERE email = $1")
        .bind(email)
        .fetch_one(&app.owner)
        .await
        .unwrap();
    assert!(stored.starts_with("sealed:"), "{stored}");
    assert!(!stored.contains(&secret));

    // Not active until confirmed.
    assert_eq!(app.login(email, PASSWORD).await.status, StatusCode::OK);
    let wrong = app
        .post(
            "/api/v1/auth/totp/confirm",
            &t.admin,
            json!({"code": "000000"}),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    let code = totp_code(&secret, app.clock_now());
    let confirm = app
        .post("/api/v1/auth/totp/confirm", &t.admin, json!({"code": code}))
        .await;
    assert_eq!(confirm.status, StatusCode::NO_CONTENT, "{}", confirm.body);

    let missing = app.login(email, PASSWORD).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing.error_code(), "totp_required");
    let bad = app
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": email, "password": PASSWORD, "totp_code": "12345x"})),
        )
        .await;
    assert_eq!(bad.error_code(), "invalid_totp");
    app.clock.advance(Duration::minutes(3));
    let good = app
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": email, "password": PASSWORD, "totp_code": totp_code(&secret, app.clock_now())})),
        )
        .await;
    assert_eq!(good.status, StatusCode::OK, "{}", good.body);
    let access = good.body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        app.get("/api/v1/auth/me", &access).await.body["user"]["totp_enabled"],
        true
    );

    // Enrolling again is refused; disabling needs a current code.
    assert_eq!(
        app.post("/api/v1/auth/totp/enroll", &access, json!({}))
            .await
            .status,
        StatusCode::CONFLICT
    );
    let off = app
        .post(
            "/api/v1/auth/totp/disable",
            &access,
            json!({"code": totp_code(&secret, app.clock_now())}),
        )
        .await;
    assert_eq!(off.status, StatusCode::NO_CONTENT, "{}", off.body);
    assert_eq!(app.login(email, PASSWORD).await.status, StatusCode::OK);
}

#[tokio::test]
async fn api_tokens_are_shown_once_stored_hashed_and_revocable() {
    let app = TestApp::new().await;
    let t = app.tenant("Token Co").await;
    let created = app
        .post(
            "/api/v1/api-tokens",
            &t.admin,
            json!({"name": "PSA sync", "scopes": ["clients:read", "clients:write"]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let secret = created.body["secret"].as_str().unwrap().to_owned();
    let id = created.id();

    let listed = app.get("/api/v1/api-tokens", &t.admin).await;
    assert!(
        !listed.body.to_string().contains(&secret),
        "the secret is shown only once"
    );
    let stored: Vec<u8> = sqlx::query_scalar("SELECT token_hash FROM api_tokens")
        .fetch_one(&app.owner)
        .await
        .unwrap();
    assert_ne!(stored, secret.as_bytes());
    assert_eq!(stored.len(), 32);

    let me = app.get("/api/v1/auth/me", &secret).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["scopes"], json!(["clients:read", "clients:write"]));
    assert_eq!(
        app.post("/api/v1/clients", &secret, json!({"name": "Via token"}))
            .await
            .status,
        StatusCode::CREATED
    );
    // The audit row names the token.
    let audit = app
        .get("/api/v1/audit?action=client.created", &t.admin)
        .await;
    assert_eq!(audit.body["data"][0]["actor_token_id"], id.as_str());

    assert_eq!(
        app.delete(&format!("/api/v1/api-tokens/{id}"), &t.admin)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/api/v1/auth/me", &secret).await.status,
        StatusCode::UNAUTHORIZED
    );

    // Expiry follows the clock.
    let expires = (app.clock_now() + Duration::hours(1)).to_rfc3339();
    let short = app
        .post(
            "/api/v1/api-tokens",
            &t.admin,
            json!({"name": "short", "scopes": ["clients:read"], "expires_at": expires}),
        )
        .await;
    let short_secret = short.body["secret"].as_str().unwrap().to_owned();
    assert_eq!(
        app.get("/api/v1/clients", &short_secret).await.status,
        StatusCode::OK
    );
    app.clock.advance(Duration::hours(2));
    assert_eq!(
        app.get("/api/v1/clients", &short_secret).await.status,
        StatusCode::UNAUTHORIZED
    );
}

/// A signed-in user's tokens: access and refresh.
async fn sign_in(app: &TestApp, email: &str) -> (String, String) {
    let r = app.login(email, PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    (
        r.body["access_token"].as_str().unwrap().to_owned(),
        r.body["refresh_token"].as_str().unwrap().to_owned(),
    )
}

async fn second_admin(app: &TestApp, t: &crate::common::Tenant, email: &str) -> String {
    let r = app
        .post(
            "/api/v1/users",
            &t.admin,
            json!({"email": email, "name": "Second Admin", "role": "admin", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.id()
}

#[tokio::test]
async fn a_demoted_admins_old_token_has_the_new_role_at_once() {
    let app = TestApp::new().await;
    let t = app.tenant("Demotions").await;
    let ada = second_admin(&app, &t, "ada@demotions.example").await;
    let (old, _) = sign_in(&app, "ada@demotions.example").await;
    assert_eq!(app.get("/api/v1/users", &old).await.status, StatusCode::OK);

    let r = app
        .patch(
            &format!("/api/v1/users/{ada}"),
            &t.admin,
            json!({"role": "tech"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // The token issued to an admin now acts as the tech she is.
    assert_eq!(
        app.get("/api/v1/users", &old).await.status,
        StatusCode::FORBIDDEN
    );
    let create = app
        .post(
            "/api/v1/users",
            &old,
            json!({"email": "mallory@demotions.example", "name": "M", "role": "admin", "password": PASSWORD}),
        )
        .await;
    assert_eq!(create.status, StatusCode::FORBIDDEN, "{}", create.body);
    assert_eq!(
        app.count("SELECT count(*) FROM users WHERE email LIKE 'mallory%'")
            .await,
        0
    );
    // What a tech may do, she still may.
    assert_eq!(
        app.get("/api/v1/clients", &old).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/api/v1/auth/me", &old).await.body["user"]["role"],
        "tech"
    );
}

#[tokio::test]
async fn a_deactivated_admins_token_is_refused_at_once() {
    let app = TestApp::new().await;
    let t = app.tenant("Departures").await;
    let bob = second_admin(&app, &t, "bob@departures.example").await;
    let (old, refresh_token) = sign_in(&app, "bob@departures.example").await;
    let r = app.delete(&format!("/api/v1/users/{bob}"), &t.admin).await;
    assert!(r.status.is_success(), "{} {}", r.status, r.body);

    let create = app
        .post(
            "/api/v1/users",
            &old,
            json!({"email": "backdoor@departures.example", "name": "B", "role": "admin", "password": PASSWORD}),
        )
        .await;
    assert_eq!(create.status, StatusCode::UNAUTHORIZED, "{}", create.body);
    assert_eq!(
        app.count("SELECT count(*) FROM users WHERE email LIKE 'backdoor%'")
            .await,
        0
    );
    assert_eq!(
        app.get("/api/v1/auth/me", &old).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&app, &refresh_token).await.status,
        StatusCode::UNAUTHORIZED
    );

    // Reactivated, the old token stays dead: deactivation ended it.
    let r = app
        .patch(
            &format!("/api/v1/users/{bob}"),
            &t.admin,
            json!({"active": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        app.get("/api/v1/auth/me", &old).await.status,
        StatusCode::UNAUTHORIZED
    );
    let (fresh, _) = sign_in(&app, "bob@departures.example").await;
    assert_eq!(
        app.get("/api/v1/auth/me", &fresh).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_new_password_and_signing_out_everywhere_end_every_token() {
    let app = TestApp::new().await;
    let t = app.tenant("Rotations").await;
    let cy = second_admin(&app, &t, "cy@rotations.example").await;
    let (laptop, laptop_refresh) = sign_in(&app, "cy@rotations.example").await;
    let (phone, _) = sign_in(&app, "cy@rotations.example").await;

    let r = app
        .patch(
            &format!("/api/v1/users/{cy}"),
            &t.admin,
            json!({"password": "a brand new passphrase 42"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    for token in [&laptop, &phone] {
        let r = app.get("/api/v1/auth/me", token).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    }
    assert_eq!(
        refresh(&app, &laptop_refresh).await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = app
        .login("cy@rotations.example", "a brand new passphrase 42")
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let desk = r.body["access_token"].as_str().unwrap().to_owned();
    let desk_refresh = r.body["refresh_token"].as_str().unwrap().to_owned();
    let r = app
        .login("cy@rotations.example", "a brand new passphrase 42")
        .await;
    let tablet = r.body["access_token"].as_str().unwrap().to_owned();

    // Signing out everywhere from one device ends the others' too.
    let r = app
        .post("/api/v1/auth/logout-everywhere", &desk, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    for token in [&desk, &tablet] {
        assert_eq!(
            app.get("/api/v1/auth/me", token).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        refresh(&app, &desk_refresh).await.status,
        StatusCode::UNAUTHORIZED
    );
    // The other admin was not touched.
    assert_eq!(
        app.get("/api/v1/auth/me", &t.admin).await.status,
        StatusCode::OK
    );
}

// ---- sign-in throttling ------------------------------------------------------

/// Signs in as a client at `addr` (the TCP peer the server would see).
async fn login_from(
    app: &TestApp,
    addr: &str,
    email: &str,
    password: &str,
) -> crate::common::Response {
    let mut req = axum::http::Request::builder()
        .method(Method::POST)
        .uri("/api/v1/auth/login")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(
            json!({"email": email, "password": password}).to_string(),
        ))
        .unwrap();
    let peer = std::net::SocketAddr::new(addr.parse().unwrap(), 40000);
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(peer));
    app.raw(req).await
}

fn retry_after(r: &crate::common::Response) -> i64 {
    r.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

async fn failed_checks(app: &TestApp) -> i64 {
    app.count("SELECT count(*) FROM audit_log WHERE action = 'auth.login_failed'")
        .await
}

#[tokio::test]
async fn parallel_wrong_passwords_get_five_checks_and_the_owner_still_signs_in() {
    let app = TestApp::new().await;
    app.tenant("Siege Co").await;
    let email = "admin@siege-co.example";
    let attacker = "203.0.113.5";
    let answers = futures_util::future::join_all(
        (0..40).map(|_| login_from(&app, attacker, email, "wrong password!")),
    )
    .await;
    let refused: Vec<_> = answers
        .iter()
        .filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    let unauthorized = answers
        .iter()
        .filter(|r| r.status == StatusCode::UNAUTHORIZED)
        .count();
    assert_eq!(unauthorized, 5, "at most five password checks");
    assert_eq!(refused.len(), 35);
    for r in &refused {
        assert_eq!(r.error_code(), "account_locked");
        assert!((1..=900).contains(&retry_after(r)), "{:?}", r.headers);
    }
    assert_eq!(failed_checks(&app).await, 5);
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE action = 'auth.login_locked'")
            .await,
        35
    );

    // The attacker's address is refused even the right password...
    let r = login_from(&app, attacker, email, PASSWORD).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    // ...while the owner, from another address, signs in, and again after
    // a typo.
    let r = login_from(&app, "198.51.100.7", email, PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = login_from(&app, "198.51.100.7", email, "typo").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = login_from(&app, "2001:db8:1:2::7", email, PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(failed_checks(&app).await, 6);

    // The attacker's window ends.
    app.clock.advance(Duration::minutes(15));
    let r = login_from(&app, attacker, email, PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test]
async fn an_address_spraying_many_accounts_is_throttled_known_or_not() {
    let app = TestApp::new().await;
    app.tenant("Spray Co").await;
    let sprayer = "192.0.2.44";
    // An unknown address answers as a known one: five checks, then 429.
    for i in 0..5 {
        let r = login_from(&app, sprayer, "nobody@nowhere.example", "guess").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let r = login_from(&app, sprayer, "nobody@nowhere.example", "guess").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert!(retry_after(&r) > 0);

    // 20 attempts from one address across accounts, however many at once.
    let answers =
        futures_util::future::join_all(
            (0..30).map(|i| {
                let app = &app;
                async move {
                    login_from(app, sprayer, &format!("user{i}@nowhere.example"), "guess").await
                }
            }),
        )
        .await;
    let unauthorized = answers
        .iter()
        .filter(|r| r.status == StatusCode::UNAUTHORIZED)
        .count();
    // Six of the address's 20 went to nobody@ above.
    assert_eq!(unauthorized, 14);
    assert!(
        answers
            .iter()
            .all(|r| r.status != StatusCode::TOO_MANY_REQUESTS || retry_after(r) > 0)
    );
    // A real account with its right password is refused from that address...
    let r = login_from(&app, sprayer, "admin@spray-co.example", PASSWORD).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    // ...and not from another.
    let r = login_from(&app, "192.0.2.45", "admin@spray-co.example", PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // The rest of one IPv6 /64 is the same client.
    for i in 0..20 {
        let addr = format!("2001:db8:5:6::{:x}", i + 1);
        login_from(&app, &addr, &format!("v6-{i}@nowhere.example"), "guess").await;
    }
    let r = login_from(
        &app,
        "2001:db8:5:6::ffff",
        "admin@spray-co.example",
        PASSWORD,
    )
    .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    let r = login_from(&app, "2001:db8:5:7::1", "admin@spray-co.example", PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test]
async fn an_account_is_locked_as_a_whole_only_past_a_hundred_attempts_an_hour() {
    let app = TestApp::new().await;
    app.tenant("Botnet Co").await;
    let email = "admin@botnet-co.example";
    // 21 addresses, five wrong passwords each (at once): 100 checks, then
    // the account as a whole is locked.
    let mut answers = Vec::new();
    for a in 0..21 {
        let addr = format!("198.18.{a}.1");
        answers.extend(
            futures_util::future::join_all(
                (0..5).map(|_| login_from(&app, &addr, email, "wrong password!")),
            )
            .await,
        );
    }
    let unauthorized = answers
        .iter()
        .filter(|r| r.status == StatusCode::UNAUTHORIZED)
        .count();
    let statuses: Vec<_> = answers.iter().map(|r| (r.status, r.body.clone())).collect();
    assert_eq!(unauthorized, 100, "{statuses:?}");
    assert_eq!(failed_checks(&app).await, 100);
    // Now even the owner from an address never seen is refused, for up to
    // an hour.
    let r = login_from(&app, "203.0.113.200", email, PASSWORD).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert!((1..=3600).contains(&retry_after(&r)));
    app.clock.advance(Duration::seconds(retry_after(&r)));
    let r = login_from(&app, "203.0.113.200", email, PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}
