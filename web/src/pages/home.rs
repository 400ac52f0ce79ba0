//! `/console`: what needs doing now. Each block is one API read; a block
//! the user's role may not read (the API answers 403) is left out.

use axum::response::Response;
use chrono::Datelike;
use maud::{Markup, html};
use nestogy_domain::billing::invoices::Invoice;
use nestogy_domain::billing::recurring::{BillingRunSummary, RunState};
use nestogy_domain::kernel::pagination::Page;
use nestogy_domain::kernel::roles::Role;
use nestogy_domain::service_desk::sla_clock::SlaState;
use nestogy_domain::service_desk::tickets::Ticket;
use serde_json::Value;

use crate::api_client::{ApiFailure, query};
use crate::fmt::relative;
use crate::layout::Section;
use crate::session::Console;

/// The statuses of a ticket someone still has to work on.
const OPEN: &str = "new,open,in_progress,waiting_on_client";

pub async fn home(c: Console) -> Result<Response, ApiFailure> {
    let me = c.user.id.to_string();
    let today = c.fmt.today(c.now);
    let month = today.with_day(1).unwrap_or(today).to_string();
    let api = &c.api;
    let (mine, breached, warning, unassigned) = tokio::join!(
        api.get_optional::<Page<Ticket>>(open_tickets(("assignee_id", me.as_str()))),
        api.get_optional::<Page<Ticket>>(open_tickets(("sla_state", "breached"))),
        api.get_optional::<Page<Ticket>>(open_tickets(("sla_state", "warning"))),
        api.get_optional::<Page<Ticket>>(open_tickets(("unassigned", "true"))),
    );
    let (overdue, finance, mrr, runs) = tokio::join!(
        api.get_optional::<Page<Invoice>>("/api/v1/invoices?status=overdue&limit=10"),
        api.get_optional::<Value>(format!(
            "/api/v1/reports/finance_summary{}",
            query(&[("from", month.as_str())])
        )),
        api.get_optional::<Value>(format!(
            "/api/v1/reports/mrr{}",
            query(&[("from", month.as_str())])
        )),
        api.get_optional::<Page<BillingRunSummary>>("/api/v1/billing-runs?limit=1"),
    );
    let (dead, retrying, queued) = tokio::join!(
        api.get_optional::<Page<Value>>("/api/v1/jobs?state=dead&limit=1"),
        api.get_optional::<Page<Value>>("/api/v1/jobs?state=failed_will_retry&limit=1"),
        api.get_optional::<Page<Value>>("/api/v1/jobs?state=queued&limit=1"),
    );
    let (mine, breached, warning, unassigned) = (mine?, breached?, warning?, unassigned?);
    let (overdue, finance, mrr, runs) = (overdue?, finance?, mrr?, runs?);
    let (dead, retrying, queued) = (dead?, retrying?, queued?);
    let body = html! {
        h1 { "Home" }
        div.grid {
            @if let Some(p) = mine {
                (ticket_block(&c, "my-tickets", "My open tickets", &p, "No open tickets are assigned to you."))
            }
            @if let Some(p) = breached {
                (ticket_block(&c, "sla-breached", "Past their SLA", &p, "No open ticket is past its SLA."))
            }
            @if let Some(p) = warning {
                (ticket_block(&c, "sla-warning", "Close to their SLA", &p, "No open ticket is close to its SLA."))
            }
            @if let Some(p) = unassigned {
                (ticket_block(&c, "unassigned", "Unassigned tickets", &p, "Every open ticket has someone on it."))
            }
            @if let Some(p) = overdue {
                (invoice_block(&c, &p))
            }
            @if let (Some(f), Some(m)) = (finance, mrr) {
                (month_block(&c, &month, &f, &m))
            }
            @if let Some(p) = runs {
                (run_block(&c, p.data.first()))
            }
            @if let (Some(d), Some(r), Some(q)) = (dead, retrying, queued) {
                (queue_block(&c, d.total, r.total, q.total))
            }
        }
    };
    Ok(c.page(Section::Home, "Home", body))
}

/// The first ten open tickets with one more filter.
fn open_tickets(filter: (&str, &str)) -> String {
    format!(
        "/api/v1/tickets{}",
        query(&[("status", OPEN), ("limit", "10"), filter])
    )
}

fn sla_cell(c: &Console, t: &Ticket) -> Markup {
    let due = match (
        t.sla.response_due,
        t.first_response_at,
        t.sla.resolution_due,
    ) {
        (Some(r), None, _) => Some(("response", r)),
        (_, _, Some(r)) => Some(("resolution", r)),
        _ => None,
    };
    let class = match t.sla.state {
        Some(SlaState::Breached) => "bad",
        Some(SlaState::Warning) => "warn",
        _ => "",
    };
    html! {
        @match due {
            Some((what, at)) => {
                span class=(class) title=(c.fmt.datetime(at)) { (what) " " (relative(c.now, at)) }
            }
            None => { span.muted { "no SLA" } }
        }
    }
}

fn ticket_block(c: &Console, id: &str, title: &str, p: &Page<Ticket>, none: &str) -> Markup {
    html! {
        section.card id=(id) aria-labelledby={ (id) "-title" } {
            h2 id={ (id) "-title" } { (title) " " span.muted { "(" (p.total) ")" } }
            @if p.data.is_empty() {
                p.muted { (none) }
            } @else {
                div.scroll { table {
                    thead { tr { th { "#" } th { "Subject" } th { "Priority" } th { "SLA" } } }
                    tbody {
                        @for t in &p.data {
                            tr id={ "ticket-" (t.id) } {
                                td.n { a href={ "/console/tickets/" (t.id) } { (t.number) } }
                                td { a href={ "/console/tickets/" (t.id) } { (t.subject) } }
                                td { (t.priority.as_str()) }
                                td { (sla_cell(c, t)) }
                            }
                        }
                    }
                } }
            }
        }
    }
}

fn invoice_block(c: &Console, p: &Page<Invoice>) -> Markup {
    html! {
        section.card #overdue-invoices aria-labelledby="overdue-invoices-title" {
            h2 #overdue-invoices-title { "Overdue invoices " span.muted { "(" (p.total) ")" } }
            @if p.data.is_empty() {
                p.muted { "No invoice is overdue." }
            } @else {
                div.scroll { table {
                    thead { tr { th { "Number" } th { "Due" } th.n { "Balance" } } }
                    tbody {
                        @for i in &p.data {
                            tr id={ "invoice-" (i.id) } {
                                td { a href={ "/console/invoices/" (i.id) } {
                                    (i.number.as_deref().unwrap_or("draft"))
                                } }
                                td.bad { (c.fmt.date(i.due_date)) }
                                td.n { (c.fmt.money(i.balance, &i.currency)) }
                            }
                        }
                    }
                } }
            }
        }
    }
}

/// A report's rows for the period `period` (its first day).
fn rows_of<'a>(report: &'a Value, period: &str) -> Vec<&'a Value> {
    report["rows"]
        .as_array()
        .map(|rows| rows.iter().filter(|r| r["period"] == period).collect())
        .unwrap_or_default()
}

fn money_of(c: &Console, row: &Value, key: &str) -> String {
    let currency = row["currency"].as_str().unwrap_or_default();
    match &row[key] {
        Value::String(s) => c.fmt.money_text(s, currency),
        Value::Number(n) => c.fmt.money_text(&n.to_string(), currency),
        _ => "–".to_owned(),
    }
}

fn month_block(c: &Console, month: &str, finance: &Value, mrr: &Value) -> Markup {
    let computed = finance["computed_at"]
        .as_str()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok());
    let sums = rows_of(finance, month);
    let recurring = rows_of(mrr, month);
    html! {
        section.card #this-month aria-labelledby="this-month-title" {
            h2 #this-month-title { "This month" }
            @if sums.is_empty() && recurring.is_empty() {
                p.muted { "Nothing invoiced or collected this month yet." }
            }
            dl.figures {
                @for r in &sums {
                    dt { "Invoiced (" (r["currency"].as_str().unwrap_or_default()) ")" }
                    dd.invoiced { (money_of(c, r, "invoiced")) }
                    dt { "Collected (" (r["currency"].as_str().unwrap_or_default()) ")" }
                    dd.collected { (money_of(c, r, "collected")) }
                }
                @for r in &recurring {
                    dt { "MRR (" (r["currency"].as_str().unwrap_or_default()) ")" }
                    dd.mrr { (money_of(c, r, "mrr")) }
                }
            }
            p.muted {
                @match computed {
                    Some(t) => { "As of " (c.fmt.datetime(t.to_utc())) "." }
                    None => { "The reports have not been computed yet." }
                }
            }
        }
    }
}

fn run_block(c: &Console, run: Option<&BillingRunSummary>) -> Markup {
    html! {
        section.card #last-billing-run aria-labelledby="last-billing-run-title" {
            h2 #last-billing-run-title { "Last billing run" }
            @match run {
                None => { p.muted { "No billing run yet." } }
                Some(r) => {
                    @let (class, state) = match r.state {
                        RunState::Pending => ("", "queued"),
                        RunState::Running => ("", "running"),
                        RunState::Succeeded => ("ok", "succeeded"),
                        RunState::CompletedWithFailures => ("warn", "completed with failures"),
                        RunState::Failed => ("bad", "failed"),
                    };
                    p { "For " (c.fmt.date(r.as_of)) ", " (r.trigger) ": " span class={ "state " (class) } { (state) } }
                    dl.figures {
                        dt { "Invoices created" } dd { (r.invoices_created) }
                        dt { "Skipped" } dd { (r.skipped) }
                        dt { "Failed" } dd { (r.failed) }
                        dt { "Pending" } dd { (r.pending + r.unbilled) }
                    }
                    p.muted { "Queued " (c.fmt.datetime(r.created_at)) }
                }
            }
        }
    }
}

fn queue_block(c: &Console, dead: i64, retrying: i64, queued: i64) -> Markup {
    html! {
        section.card #queue-health aria-labelledby="queue-health-title" {
            h2 #queue-health-title { "Queue health" }
            dl.figures {
                dt { "Dead jobs" } dd #dead-jobs class=[(dead > 0).then_some("bad")] { (dead) }
                dt { "Failing, will retry" } dd class=[(retrying > 0).then_some("warn")] { (retrying) }
                dt { "Waiting" } dd { (queued) }
            }
            @if c.user.role == Role::Admin {
                p { a href="/admin/queues" { "Open the queue dashboard" } }
            }
        }
    }
}
