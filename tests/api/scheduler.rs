//! The scheduler over a moved clock: replicas fire each tick once, catch up
//! after downtime once each, and keep to wall-clock time across DST.

use chrono::{DateTime, Duration, Utc};
use nestogy_scheduler::{SchedulerConfig, tick};
use serde_json::json;

use crate::common::TestApp;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

async fn fires(app: &TestApp, schedule: &str) -> Vec<(DateTime<Utc>, bool)> {
    sqlx::query_as("SELECT fire_at, caught_up FROM schedule_fires WHERE schedule_id = $1::uuid ORDER BY fire_at")
        .bind(schedule)
        .fetch_all(&app.owner)
        .await
        .unwrap()
}

async fn jobs_of(app: &TestApp, kind: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM jobs WHERE kind = $1")
        .bind(kind)
        .fetch_one(&app.owner)
        .await
        .unwrap()
}

#[tokio::test]
async fn two_schedulers_fire_each_minute_once_and_catch_up_after_downtime() {
    let app = TestApp::new().await;
    app.clock.set(utc("2026-03-01T12:00:30Z"));
    let t = app.tenant("Cron Co").await;
    let s = app
        .post("/api/v1/schedules", &t.admin, json!({"name": "every minute", "kind": "diag.noop", "cron": "* * * * *", "time_zone": "UTC"}))
        .await;
    assert_eq!(s.status, axum::http::StatusCode::CREATED, "{}", s.body);
    let id = s.id();
    let cfg = SchedulerConfig::default();
    let (one, two) = (app.jobs(), app.jobs());

    // Ten minutes, each looked at by both schedulers at once, twice.
    for _ in 0..10 {
        app.clock.advance(Duration::minutes(1));
        let (a, b) = tokio::join!(tick(&one, &cfg), tick(&two, &cfg));
        let (a, b) = (a.unwrap(), b.unwrap());
        // Besides this schedule, the company's default mailbox polls fire
        // every minute and its SLA checks every fifth minute.
        let sla = usize::from(chrono::Timelike::minute(&app.clock_now()) % 5 == 0);
        assert_eq!(
            a.fired + b.fired,
            2 + sla,
            "one fire per schedule and minute between both"
        );
        let (a, b) = tokio::join!(tick(&one, &cfg), tick(&two, &cfg));
        assert_eq!(a.unwrap().fired + b.unwrap().fired, 0, "and nothing more");
    }
    let f = fires(&app, &id).await;
    assert_eq!(f.len(), 10);
    assert_eq!(f[0].0, utc("2026-03-01T12:01:00Z"));
    assert_eq!(f[9].0, utc("2026-03-01T12:10:00Z"));
    assert!(f.iter().all(|(_, caught_up)| !caught_up));
    assert_eq!(jobs_of(&app, "diag.noop").await, 10);

    // Down for three hours: every missed tick fires once, marked as caught up.
    app.clock.advance(Duration::hours(3));
    let (a, b) = tokio::join!(tick(&one, &cfg), tick(&two, &cfg));
    // 180 of this schedule, 180 mailbox polls and 36 SLA checks (12:15 to
    // 15:10, every five minutes) of the company's defaults.
    assert_eq!(a.unwrap().fired + b.unwrap().fired, 180 + 180 + 36);
    let (a, b) = tokio::join!(tick(&one, &cfg), tick(&two, &cfg));
    assert_eq!(a.unwrap().fired + b.unwrap().fired, 0);
    let f = fires(&app, &id).await;
    assert_eq!(f.len(), 190);
    assert_eq!(
        f.iter().filter(|(_, c)| *c).count(),
        179,
        "all but the current minute are catch-ups"
    );
    assert_eq!(jobs_of(&app, "diag.noop").await, 190);
    let fresh = app
        .login("admin@cron-co.example", crate::common::PASSWORD)
        .await;
    let token = fresh.body["access_token"].as_str().unwrap();
    let jobs = app.get("/api/v1/jobs?kind=diag.noop&limit=1", token).await;
    assert_eq!(
        jobs.body["total"], 190,
        "the tenant sees its schedule's jobs"
    );
}

#[tokio::test]
async fn catch_up_is_bounded() {
    let app = TestApp::new().await;
    app.clock.set(utc("2026-03-01T12:00:00Z"));
    let t = app.tenant("Bounded Co").await;
    let s = app
        .post(
            "/api/v1/schedules",
            &t.admin,
            json!({"name": "m", "kind": "diag.noop", "cron": "* * * * *", "time_zone": "UTC"}),
        )
        .await
        .id();
    app.clock.advance(Duration::hours(2));
    let cfg = SchedulerConfig {
        max_catch_up: 30,
        ..SchedulerConfig::default()
    };
    // 30 of this schedule, 30 mailbox polls and the 24 SLA checks of the
    // company's defaults (every five minutes: fewer than the bound).
    assert_eq!(tick(&app.jobs(), &cfg).await.unwrap().fired, 30 + 30 + 24);
    let f = fires(&app, &s).await;
    assert_eq!(
        f.first().unwrap().0,
        utc("2026-03-01T13:31:00Z"),
        "the latest 30 are kept"
    );
    assert_eq!(f.last().unwrap().0, utc("2026-03-01T14:00:00Z"));
}

#[tokio::test]
async fn half_past_two_in_new_york_fires_once_a_day_across_both_dst_changes() {
    let app = TestApp::new().await;
    let cfg = SchedulerConfig::default();
    for (start, days, expected) in [
        (
            "2026-03-06T12:00:00Z",
            4,
            [
                "2026-03-07T07:30:00Z",
                "2026-03-08T07:00:00Z",
                "2026-03-09T06:30:00Z",
                "2026-03-10T06:30:00Z",
            ],
        ),
        (
            "2026-10-30T12:00:00Z",
            4,
            [
                "2026-10-31T06:30:00Z",
                "2026-11-01T07:30:00Z",
                "2026-11-02T07:30:00Z",
                "2026-11-03T07:30:00Z",
            ],
        ),
    ] {
        app.clock.set(utc(start));
        let t = app.tenant(&format!("NY {start}")).await;
        let s = app
            .post(
                "/api/v1/schedules",
                &t.admin,
                json!({"name": format!("nightly {start}"), "kind": "diag.noop", "cron": "30 2 * * *", "time_zone": "America/New_York"}),
            )
            .await;
        assert_eq!(s.status, axum::http::StatusCode::CREATED, "{}", s.body);
        let id = s.id();
        // Look every 15 minutes for the days in question.
        for _ in 0..(days * 24 * 4) {
            app.clock.advance(Duration::minutes(15));
            tick(&app.jobs(), &cfg).await.unwrap();
        }
        let got: Vec<DateTime<Utc>> = fires(&app, &id).await.into_iter().map(|(f, _)| f).collect();
        let want: Vec<DateTime<Utc>> = expected.iter().map(|s| utc(s)).collect();
        assert_eq!(got, want, "from {start}");
    }
}

#[tokio::test]
async fn schedules_that_follow_the_company_move_with_its_time_zone_across_dst() {
    let app = TestApp::new().await;
    let cfg = SchedulerConfig::default();
    app.clock.set(utc("2026-03-05T12:00:00Z"));
    let t = app.tenant("Moving West").await;
    let create = |name: &'static str, zone: Option<&'static str>| {
        let mut body = json!({"name": name, "kind": "diag.noop", "cron": "0 2 * * *"});
        if let Some(z) = zone {
            body["time_zone"] = json!(z);
        }
        body
    };
    let own = app
        .post(
            "/api/v1/schedules",
            &t.admin,
            create("own zone", Some("Europe/Berlin")),
        )
        .await;
    assert_eq!(own.status, axum::http::StatusCode::CREATED, "{}", own.body);
    assert_eq!(own.body["follows_company_time_zone"], false);
    let follows = app
        .post("/api/v1/schedules", &t.admin, create("follows", None))
        .await;
    assert_eq!(follows.body["follows_company_time_zone"], true);
    let own_ny = app
        .post(
            "/api/v1/schedules",
            &t.admin,
            create("own back", Some("UTC")),
        )
        .await;

    let r = app
        .patch(
            "/api/v1/company",
            &t.admin,
            json!({"time_zone": "America/New_York"}),
        )
        .await;
    assert_eq!(r.status, axum::http::StatusCode::OK, "{}", r.body);

    // Both at once is refused; following again takes the company's zone.
    let both = app
        .patch(
            &format!("/api/v1/schedules/{}", own_ny.id()),
            &t.admin,
            json!({"time_zone": "UTC", "follow_company_time_zone": true}),
        )
        .await;
    assert_eq!(both.status, axum::http::StatusCode::UNPROCESSABLE_ENTITY);
    let back = app
        .patch(
            &format!("/api/v1/schedules/{}", own_ny.id()),
            &t.admin,
            json!({"follow_company_time_zone": true}),
        )
        .await;
    assert_eq!(back.body["time_zone"], "America/New_York", "{}", back.body);
    assert_eq!(back.body["follows_company_time_zone"], true);

    let list = app.get("/api/v1/schedules?limit=100", &t.admin).await;
    let by_name = |n: &str| {
        list.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == n)
            .unwrap_or_else(|| panic!("no schedule {n}: {}", list.body))
            .clone()
    };
    let billing = by_name("billing run");
    assert_eq!(billing["time_zone"], "America/New_York");
    assert_eq!(billing["follows_company_time_zone"], true);
    assert_eq!(billing["next_fire_at"], "2026-03-06T07:00:00Z");
    assert_eq!(by_name("own zone")["time_zone"], "Europe/Berlin");
    assert_eq!(by_name("follows")["time_zone"], "America/New_York");

    // New York moves its clocks on 8 March at 02:00: that night's 02:00 is
    // the jump itself, 07:00 UTC; after it 02:00 is 06:00 UTC. Berlin's
    // 02:00 stays 01:00 UTC until its own switch on 29 March.
    for _ in 0..(5 * 24) {
        app.clock.advance(Duration::hours(1));
        tick(&app.jobs(), &cfg).await.unwrap();
    }
    let at = |xs: &[&str]| xs.iter().map(|s| utc(s)).collect::<Vec<_>>();
    let got = |v: Vec<(DateTime<Utc>, bool)>| v.into_iter().map(|(f, _)| f).collect::<Vec<_>>();
    let following = at(&[
        "2026-03-06T07:00:00Z",
        "2026-03-07T07:00:00Z",
        "2026-03-08T07:00:00Z",
        "2026-03-09T06:00:00Z",
        "2026-03-10T06:00:00Z",
    ]);
    assert_eq!(got(fires(&app, &follows.id()).await), following);
    assert_eq!(
        got(fires(&app, billing["id"].as_str().unwrap()).await),
        following
    );
    assert_eq!(
        got(fires(&app, &own.id()).await),
        at(&[
            "2026-03-06T01:00:00Z",
            "2026-03-07T01:00:00Z",
            "2026-03-08T01:00:00Z",
            "2026-03-09T01:00:00Z",
            "2026-03-10T01:00:00Z",
        ])
    );
}
