//! Recurring tickets as deployed: two `nestogy scheduler` processes and a
//! worker over a moved clock; each fire opens exactly one ticket.

use std::time::Duration;

use serde_json::json;

use crate::common::{Proc, TestApp, eventually};

#[tokio::test]
async fn two_scheduler_processes_open_one_recurring_ticket_per_fire() {
    let app = TestApp::new().await;
    let offset_file = std::env::temp_dir().join(format!("{}-clock", app.db_name));
    std::fs::write(&offset_file, "0").unwrap();
    app.clock.set(chrono::Utc::now());
    let t = app.tenant("Recurring Processes").await;
    let client = app.client(&t.admin, "Acme").await;
    let tpl = app
        .post(
            "/api/v1/ticket-templates",
            &t.admin,
            json!({"name": "Check", "subject": "Every minute check", "checklist": [{"text": "Look", "required": true}]}),
        )
        .await
        .id();
    let r = app
        .post(
            "/api/v1/recurring-tickets",
            &t.admin,
            json!({"template_id": tpl, "client_id": client, "cron": "* * * * *", "skip_if_open": false}),
        )
        .await;
    assert_eq!(r.status.as_u16(), 201, "{}", r.body);
    let rec = r.id();
    let schedule = r.body["schedule_id"].as_str().unwrap().to_owned();
    // Only the recurring ticket's schedule: the company's defaults are off.
    sqlx::query("UPDATE schedules SET enabled = false WHERE company_id = $1 AND kind <> 'tickets.recurring'")
        .bind(t.id)
        .execute(&app.owner)
        .await
        .unwrap();
    let env = [("NESTOGY_CLOCK_OFFSET_FILE", offset_file.to_str().unwrap())];
    let _a = Proc::spawn(&app, "scheduler", &env);
    let _b = Proc::spawn(&app, "scheduler", &env);
    let _w = Proc::spawn(&app, "worker", &env);
    let fires = || async {
        app.count(&format!(
            "SELECT count(*) FROM schedule_fires WHERE schedule_id = '{schedule}'"
        ))
        .await
    };
    let handled = || async {
        app.count(&format!(
            "SELECT count(*) FROM recurring_ticket_fires WHERE recurring_ticket_id = '{rec}' AND ticket_id IS NOT NULL"
        ))
        .await
    };
    // Four minutes forward, one at a time.
    let mut offset = 0;
    for _ in 0..4 {
        let before = fires().await;
        offset += 60;
        std::fs::write(&offset_file, offset.to_string()).unwrap();
        eventually(
            "the schedulers to fire",
            Duration::from_secs(30),
            || async { fires().await > before },
        )
        .await;
    }
    // Each fire's ticket and its record commit together, as each fire and
    // its job do: the counts agree whenever they are read.
    eventually(
        "the worker to open each fire's ticket",
        Duration::from_secs(60),
        || async {
            let f = fires().await;
            f >= 4 && handled().await == f
        },
    )
    .await;
    // One statement, one snapshot.
    let (tickets_less_fires, jobs_less_fires) = (
        app.count(&format!(
            "SELECT (SELECT count(*) FROM tickets WHERE company_id = '{}' AND subject = 'Every minute check') \
                  - (SELECT count(*) FROM recurring_ticket_fires WHERE recurring_ticket_id = '{rec}')",
            t.id
        ))
        .await,
        app.count(&format!(
            "SELECT (SELECT count(*) FROM jobs WHERE kind = 'tickets.recurring' AND company_id = '{}') \
                  - (SELECT count(*) FROM schedule_fires WHERE schedule_id = '{schedule}')",
            t.id
        ))
        .await,
    );
    assert_eq!(
        tickets_less_fires, 0,
        "one ticket per fire handled, none twice"
    );
    assert_eq!(
        jobs_less_fires, 0,
        "one job per fire between both schedulers"
    );
    let got = app
        .get(&format!("/api/v1/recurring-tickets/{rec}"), &t.admin)
        .await;
    assert_eq!(got.body["last_outcome"], "opened");
    let _ = std::fs::remove_file(offset_file);
}
