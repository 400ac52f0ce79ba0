//! The queue dashboard: the company's queues with their depth and rates,
//! its jobs by state, one job with retry and cancel, and the worker
//! processes with their last heartbeat. Every read of jobs goes through the
//! admin's own [`TenantTx`](nestogy_domain::TenantTx): nothing here shows
//! another company's jobs or counts. Worker processes serve every company
//! and hold no company's data; they are listed as they are.

use std::fmt::Write as _;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use nestogy_domain::JobId;
use nestogy_domain::kernel::pagination::PageRequest;
use nestogy_domain::platform::jobs::{self, JobFilter, JobRecord, JobState, QueueStats};
use nestogy_jobs::Queue;
use nestogy_jobs::workers_seen::{self, WorkerSeen};
use serde::Deserialize;

use super::html::{self, Frame, ago, cut, esc, time};
use super::session::{Admin, CsrfForm, Form, see_other};
use crate::error::ApiError;
use crate::routes;
use crate::state::AppState;

/// Jobs per page of a list.
const PAGE_SIZE: i64 = 50;
/// Dead jobs shown on the overview.
const RECENT_DEAD: i64 = 10;
/// A worker whose last heartbeat is older than this is shown as silent.
const SILENT_AFTER_SECS: i64 = 60;

/// The states in the order the pages show them.
const STATES: [JobState; 6] = [
    JobState::Queued,
    JobState::Running,
    JobState::FailedWillRetry,
    JobState::Dead,
    JobState::Succeeded,
    JobState::Cancelled,
];

fn state_label(s: JobState) -> &'static str {
    match s {
        JobState::Queued => "queued",
        JobState::Running => "running",
        JobState::FailedWillRetry => "retrying",
        JobState::Dead => "dead",
        JobState::Succeeded => "succeeded",
        JobState::Cancelled => "cancelled",
    }
}

fn state_badge(s: JobState) -> String {
    format!(
        "<span class=\"state {}\">{}</span>",
        s.as_str(),
        state_label(s)
    )
}

/// A query string for a jobs list (values encoded).
fn jobs_href(state: Option<JobState>, queue: Option<&str>, cursor: Option<&str>) -> String {
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    if let Some(s) = state {
        pairs.push(("state", s.as_str()));
    }
    if let Some(q) = queue {
        pairs.push(("queue", q));
    }
    if let Some(c) = cursor {
        pairs.push(("cursor", c));
    }
    match serde_urlencoded::to_string(&pairs) {
        Ok(q) if !q.is_empty() => format!("/admin/queues/jobs?{q}"),
        _ => "/admin/queues/jobs".to_owned(),
    }
}

fn job_href(id: JobId) -> String {
    format!("/admin/queues/jobs/{id}")
}

/// Every known queue with the company's figures (zeros where it has no
/// jobs), then any other queue its jobs name.
fn with_every_queue(stats: Vec<QueueStats>) -> Vec<QueueStats> {
    let mut out: Vec<QueueStats> = Queue::ALL
        .iter()
        .map(|q| QueueStats {
            queue: q.name().to_owned(),
            ..Default::default()
        })
        .collect();
    for s in stats {
        match out.iter_mut().find(|o| o.queue == s.queue) {
            Some(o) => *o = s,
            None => out.push(s),
        }
    }
    out
}

/// `GET /admin/queues`.
pub async fn overview(admin: Admin, State(s): State<AppState>) -> Response {
    match overview_page(&admin, &s).await {
        Ok(r) => r,
        Err(e) => html::error_page(e, Some(&admin.frame())).await,
    }
}

async fn overview_page(admin: &Admin, s: &AppState) -> Result<Response, ApiError> {
    let mut tx = admin.principal.tx(s).await?;
    let stats = with_every_queue(jobs::queue_stats(&mut tx).await?);
    let dead = jobs::list(
        &mut tx,
        &JobFilter {
            state: Some(JobState::Dead),
            ..Default::default()
        },
        &PageRequest::from_query(Some(RECENT_DEAD), None)?,
    )
    .await?;
    let now = tx.now();
    tx.end_read();
    let workers = workers_seen::list(&s.db)
        .await
        .map_err(nestogy_domain::DomainError::from)?;

    let mut body = String::from("<h1>Queues</h1>");
    body.push_str(&state_tabs(&stats, None));
    body.push_str(&queue_table(&stats));
    body.push_str("<h2 id=\"dead\">Latest dead jobs</h2>");
    if dead.data.is_empty() {
        body.push_str("<p class=\"muted\" id=\"no-dead\">No dead jobs.</p>");
    } else {
        body.push_str(&job_table(&dead.data, now));
        if dead.total > dead.data.len() as i64 {
            let _ = write!(
                body,
                "<p><a href=\"{}\">All {} dead jobs</a></p>",
                esc(&jobs_href(Some(JobState::Dead), None, None)),
                dead.total
            );
        }
    }
    body.push_str(&worker_table(&workers, now));
    Ok(html::respond(
        StatusCode::OK,
        html::page("Queues", Some(&admin.frame()), &body),
    ))
}

/// Links to each state's jobs with the company's count.
fn state_tabs(stats: &[QueueStats], on: Option<JobState>) -> String {
    let total = |f: fn(&QueueStats) -> i64| stats.iter().map(f).sum::<i64>();
    let counts = [
        total(|s| s.waiting + s.delayed),
        total(|s| s.running),
        total(|s| s.retrying),
        total(|s| s.dead),
        total(|s| s.succeeded),
        total(|s| s.cancelled),
    ];
    let mut out = String::from("<p class=\"tabs\">");
    for (state, n) in STATES.iter().zip(counts) {
        let class = if on == Some(*state) {
            " class=\"on\""
        } else {
            ""
        };
        let _ = write!(
            out,
            "<a{class} id=\"tab-{}\" href=\"{}\">{} ({n})</a>",
            state.as_str(),
            esc(&jobs_href(Some(*state), None, None)),
            state_label(*state),
        );
    }
    out.push_str("</p>");
    out
}

fn queue_table(stats: &[QueueStats]) -> String {
    let mut out = String::from(
        "<table id=\"queues\"><thead><tr><th>Queue</th><th>Waiting</th><th>Delayed</th>\
         <th>Retrying</th><th>Running</th><th>Dead</th>\
         <th>Succeeded (1 min / 1 h)</th><th>Failed (1 min / 1 h)</th></tr></thead><tbody>",
    );
    for q in stats {
        let name = esc(&q.queue);
        let link = |state: JobState, n: i64| {
            if n == 0 {
                "<td class=\"n\">0</td>".to_owned()
            } else {
                format!(
                    "<td class=\"n\"><a href=\"{}\">{n}</a></td>",
                    esc(&jobs_href(Some(state), Some(&q.queue), None))
                )
            }
        };
        let _ = write!(
            out,
            "<tr id=\"queue-{name}\"><td><a href=\"{}\">{name}</a></td>{}\
             <td class=\"n\">{}</td>{}{}{}\
             <td class=\"n\">{} / {}</td><td class=\"n\">{} / {}</td></tr>",
            esc(&jobs_href(None, Some(&q.queue), None)),
            link(JobState::Queued, q.waiting),
            q.delayed,
            link(JobState::FailedWillRetry, q.retrying),
            link(JobState::Running, q.running),
            link(JobState::Dead, q.dead),
            q.succeeded_1m,
            q.succeeded_1h,
            q.failed_1m,
            q.failed_1h,
        );
    }
    out.push_str("</tbody></table>");
    out
}

fn json_text(v: &serde_json::Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn job_table(jobs: &[JobRecord], now: chrono::DateTime<chrono::Utc>) -> String {
    let mut out = String::from(
        "<table class=\"jobs\"><thead><tr><th>Job</th><th>Kind</th><th>Queue</th><th>State</th>\
         <th>Attempts</th><th>Created</th><th>Run at</th><th>Finished</th><th>Payload</th>\
         <th>Last error</th><th>Result</th></tr></thead><tbody>",
    );
    for j in jobs {
        let id = j.id.to_string();
        let _ = write!(
            out,
            "<tr id=\"job-{id}\"><td><a href=\"{}\"><code>{}</code></a></td><td>{}</td><td>{}</td>\
             <td>{}</td><td class=\"n\">{}/{}</td><td title=\"{}\">{}</td><td>{}</td><td>{}</td>\
             <td><code>{}</code></td><td class=\"err\">{}</td><td><code>{}</code></td></tr>",
            esc(&job_href(j.id)),
            esc(&id[..8.min(id.len())]),
            esc(&j.kind),
            esc(&j.queue),
            state_badge(j.state),
            j.attempts,
            j.max_attempts,
            esc(&time(j.created_at)),
            esc(&ago(now, j.created_at)),
            esc(&time(j.run_at)),
            j.finished_at.map(|t| esc(&time(t))).unwrap_or_default(),
            esc(&cut(&json_text(&j.payload), 160)),
            esc(&cut(j.last_error.as_deref().unwrap_or(""), 200)),
            esc(&cut(
                &j.result.as_ref().map(json_text).unwrap_or_default(),
                120
            )),
        );
    }
    out.push_str("</tbody></table>");
    out
}

fn worker_table(workers: &[WorkerSeen], now: chrono::DateTime<chrono::Utc>) -> String {
    let mut out = String::from("<h2 id=\"workers\">Workers</h2>");
    if workers.is_empty() {
        out.push_str("<p class=\"muted\" id=\"no-workers\">No worker has sent a heartbeat in the last day.</p>");
        return out;
    }
    out.push_str(
        "<table id=\"worker-list\"><thead><tr><th>Worker</th><th>Host</th><th>PID</th>\
         <th>Queues</th><th>Started</th><th>Last heartbeat</th></tr></thead><tbody>",
    );
    for w in workers {
        let silent = (now - w.last_heartbeat).num_seconds() > SILENT_AFTER_SECS;
        let _ = write!(
            out,
            "<tr class=\"worker\"><td><code>{}</code></td><td>{}</td><td class=\"n\">{}</td>\
             <td>{}</td><td>{}</td><td{} title=\"{}\">{}{}</td></tr>",
            esc(&w.consumer),
            esc(&w.host),
            w.pid,
            esc(&w.queues.join(", ")),
            esc(&time(w.started_at)),
            if silent { " class=\"stale\"" } else { "" },
            esc(&time(w.last_heartbeat)),
            esc(&ago(now, w.last_heartbeat)),
            if silent { " (silent)" } else { "" },
        );
    }
    out.push_str("</tbody></table>");
    out
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct JobsQuery {
    state: Option<String>,
    queue: Option<String>,
    cursor: Option<String>,
}

/// `GET /admin/queues/jobs?state=&queue=&cursor=`: the company's jobs,
/// newest first, 50 a page.
pub async fn list(admin: Admin, State(s): State<AppState>, RawQuery(q): RawQuery) -> Response {
    let frame = admin.frame();
    let q: JobsQuery = match serde_urlencoded::from_str(q.as_deref().unwrap_or("")) {
        Ok(q) => q,
        Err(_) => {
            return html::problem(
                StatusCode::BAD_REQUEST,
                Some(&frame),
                "the query string has an unknown parameter",
            );
        }
    };
    let state = match q.state.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(name) => match JobState::parse(name) {
            Some(st) => Some(st),
            None => {
                return html::problem(StatusCode::BAD_REQUEST, Some(&frame), "no such job state");
            }
        },
    };
    let queue = q.queue.filter(|q| !q.is_empty());
    match list_page(&admin, &s, state, queue, q.cursor).await {
        Ok(r) => r,
        Err(e) => html::error_page(e, Some(&frame)).await,
    }
}

async fn list_page(
    admin: &Admin,
    s: &AppState,
    state: Option<JobState>,
    queue: Option<String>,
    cursor: Option<String>,
) -> Result<Response, ApiError> {
    let page = PageRequest::from_query(Some(PAGE_SIZE), cursor.as_deref())?;
    let mut tx = admin.principal.tx(s).await?;
    let stats = with_every_queue(jobs::queue_stats(&mut tx).await?);
    let filter = JobFilter {
        state,
        queue: queue.clone(),
        ..Default::default()
    };
    let found = jobs::list(&mut tx, &filter, &page).await?;
    let now = tx.now();
    tx.end_read();

    let title = match (state, &queue) {
        (Some(st), Some(q)) => format!("Jobs {} in {q}", state_label(st)),
        (Some(st), None) => format!("Jobs {}", state_label(st)),
        (None, Some(q)) => format!("Jobs in {q}"),
        (None, None) => "All jobs".to_owned(),
    };
    let mut body = format!("<h1>{}</h1>", esc(&title));
    body.push_str(&state_tabs(&stats, state));
    let _ = write!(
        body,
        "<p class=\"muted\" id=\"total\">{} job{} in all.</p>",
        found.total,
        if found.total == 1 { "" } else { "s" }
    );
    if found.data.is_empty() {
        body.push_str("<p class=\"muted\" id=\"no-jobs\">No jobs.</p>");
    } else {
        body.push_str(&job_table(&found.data, now));
    }
    if let Some(next) = &found.next_cursor {
        let _ = write!(
            body,
            "<p><a id=\"next-page\" href=\"{}\">Next page</a></p>",
            esc(&jobs_href(state, queue.as_deref(), Some(next)))
        );
    }
    Ok(html::respond(
        StatusCode::OK,
        html::page(&title, Some(&admin.frame()), &body),
    ))
}

/// The 404 page of a job id that does not name one of the company's jobs
/// (or cannot name any job).
fn no_such_job(frame: &Frame<'_>) -> Response {
    html::problem(StatusCode::NOT_FOUND, Some(frame), "job not found")
}

#[derive(Debug, Default, Deserialize)]
struct JobPageQuery {
    done: Option<String>,
}

/// `GET /admin/queues/jobs/{id}`: one job in full, with retry (dead jobs)
/// and cancel (jobs that have not started).
pub async fn job(
    admin: Admin,
    State(s): State<AppState>,
    Path(raw): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let frame = admin.frame();
    let Ok(id) = raw.parse::<JobId>() else {
        return no_such_job(&frame);
    };
    let done = serde_urlencoded::from_str::<JobPageQuery>(q.as_deref().unwrap_or(""))
        .ok()
        .and_then(|q| q.done);
    match job_page(&admin, &s, id, done.as_deref()).await {
        Ok(r) => r,
        Err(e) => html::error_page(e, Some(&frame)).await,
    }
}

async fn job_page(
    admin: &Admin,
    s: &AppState,
    id: JobId,
    done: Option<&str>,
) -> Result<Response, ApiError> {
    let mut tx = admin.principal.tx(s).await?;
    let j = jobs::get(&mut tx, id).await?;
    let now = tx.now();
    tx.end_read();

    let mut body = format!("<h1>Job <code>{}</code></h1>", esc(&j.id.to_string()));
    // Only fixed words reach the page from the query string.
    match done {
        Some("retried") => body.push_str(
            "<p class=\"notice\" id=\"notice\">Queued again with a fresh attempt budget.</p>",
        ),
        Some("cancelled") => {
            body.push_str("<p class=\"notice\" id=\"notice\">Cancelled: it will not run.</p>")
        }
        _ => {}
    }
    let opt_time = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map(|t| format!("{} ({})", esc(&time(t)), esc(&ago(now, t))))
            .unwrap_or_else(|| "—".to_owned())
    };
    let _ = write!(
        body,
        "<dl><dt>Kind</dt><dd id=\"kind\">{}</dd><dt>Queue</dt><dd>{}</dd>\
         <dt>State</dt><dd id=\"state\">{}</dd><dt>Attempts</dt><dd id=\"attempts\">{} of {}</dd>\
         <dt>Created</dt><dd>{}</dd><dt>Run at</dt><dd>{}</dd><dt>Started</dt><dd>{}</dd>\
         <dt>Finished</dt><dd>{}</dd><dt>Updated</dt><dd>{}</dd></dl>",
        esc(&j.kind),
        esc(&j.queue),
        state_badge(j.state),
        j.attempts,
        j.max_attempts,
        opt_time(Some(j.created_at)),
        opt_time(Some(j.run_at)),
        opt_time(j.started_at),
        opt_time(j.finished_at),
        opt_time(Some(j.updated_at)),
    );
    let mut actions = String::new();
    if j.state == JobState::Dead {
        let _ = write!(
            actions,
            "<form method=\"post\" action=\"{}/retry\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <button type=\"submit\" id=\"retry\">Retry</button></form>",
            esc(&job_href(j.id)),
            esc(&admin.csrf)
        );
    }
    if matches!(j.state, JobState::Queued | JobState::FailedWillRetry) {
        let _ = write!(
            actions,
            "<form method=\"post\" action=\"{}/cancel\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <button type=\"submit\" id=\"cancel\">Cancel</button></form>",
            esc(&job_href(j.id)),
            esc(&admin.csrf)
        );
    }
    if !actions.is_empty() {
        let _ = write!(body, "<div class=\"actions\">{actions}</div>");
    }
    let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap_or_default();
    let _ = write!(
        body,
        "<h2>Last error</h2><pre id=\"last-error\" class=\"err\">{}</pre>\
         <h2>Payload</h2><pre id=\"payload\">{}</pre>\
         <h2>Result</h2><pre id=\"result\">{}</pre>",
        esc(j.last_error.as_deref().unwrap_or("—")),
        esc(&pretty(&j.payload)),
        j.result
            .as_ref()
            .map(|r| esc(&pretty(r)))
            .unwrap_or_else(|| "—".to_owned()),
    );
    let _ = write!(
        body,
        "<p><a href=\"{}\">Back to the {} jobs of {}</a></p>",
        esc(&jobs_href(Some(j.state), Some(&j.queue), None)),
        state_label(j.state),
        esc(&j.queue)
    );
    Ok(html::respond(
        StatusCode::OK,
        html::page("Job", Some(&admin.frame()), &body),
    ))
}

/// `POST /admin/queues/jobs/{id}/retry`: replays a dead job, as
/// `POST /api/v1/jobs/{id}/retry` does.
pub async fn retry(
    admin: Admin,
    State(s): State<AppState>,
    Path(raw): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    act(admin, s, raw, form, Action::Retry).await
}

/// `POST /admin/queues/jobs/{id}/cancel`: cancels a job that has not
/// started, as `POST /api/v1/jobs/{id}/cancel` does.
pub async fn cancel(
    admin: Admin,
    State(s): State<AppState>,
    Path(raw): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    act(admin, s, raw, form, Action::Cancel).await
}

enum Action {
    Retry,
    Cancel,
}

async fn act(admin: Admin, s: AppState, raw: String, form: CsrfForm, action: Action) -> Response {
    let frame = admin.frame();
    if !admin.csrf_ok(&s, &form.csrf) {
        return admin.bad_csrf();
    }
    let Ok(id) = raw.parse::<JobId>() else {
        return no_such_job(&frame);
    };
    let (outcome, done) = match action {
        Action::Retry => (
            routes::jobs::retry(&admin.principal, &s, id).await,
            "retried",
        ),
        Action::Cancel => (
            routes::jobs::cancel(&admin.principal, &s, id).await,
            "cancelled",
        ),
    };
    match outcome {
        Ok(_) => see_other(&format!("{}?done={done}", job_href(id))),
        Err(e) => html::error_page(e, Some(&frame)).await,
    }
}
