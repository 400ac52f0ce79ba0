//! `/console/billing-runs`: the billing runs (cursor pages), a dry run of
//! what a run would bill on a date, the form that starts one
//! (`#start-billing-run`), and one run's summary: its state and counts and
//! every period it settled (`#run-periods`): the invoices it created (the
//! API's `GET /invoices?billing_run_id=`), and the periods it skipped or
//! failed, with why. While a run is pending or running its page asks the
//! browser to reload it (a `Refresh` header).

use std::collections::HashMap;

use axum::extract::{Path, Query};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::Response;
use chrono::NaiveDate;
use maud::{Markup, html};
use nestogy_api::admin::session::see_other;
use nestogy_domain::billing::invoices::Invoice;
use nestogy_domain::billing::recurring::{
    BillingRun, BillingRunSummary, PeriodOutcome, PeriodResult, RunState,
};
use nestogy_domain::kernel::pagination::Page;
use nestogy_domain::{BillingRunId, RecurringId};
use serde::Deserialize;
use serde_json::json;

use crate::api_client::{ApiFailure, query};
use crate::layout::{self, Section};
use crate::pages::clients::{input, next_link, parse_id, refusal};
use crate::pages::invoices::{FinancePage, finance_nav};
use crate::pages::recurring::TemplateView;
use crate::session::{Console, Form};

/// What `POST /billing-runs` with `dry_run` answers.
#[derive(Debug, Deserialize)]
struct DryRun {
    #[serde(deserialize_with = "nestogy_domain::kernel::dates::de")]
    as_of: NaiveDate,
    templates: usize,
    items: Vec<PeriodOutcome>,
}

/// The most periods a dry run lists (the API's cut).
const DRY_RUN_SHOWN: usize = 500;

fn state_label(s: RunState) -> (&'static str, &'static str) {
    match s {
        RunState::Pending => ("pending", "muted"),
        RunState::Running => ("running", ""),
        RunState::Succeeded => ("succeeded", "ok"),
        RunState::CompletedWithFailures => ("completed with failures", "warn"),
        RunState::Failed => ("failed", "bad"),
    }
}

fn outcome_label(o: PeriodResult) -> (&'static str, &'static str) {
    match o {
        PeriodResult::Created => ("created", "ok"),
        PeriodResult::Skipped => ("skipped", "muted"),
        PeriodResult::Failed => ("failed", "bad"),
    }
}

/// `ids`' templates, one read per template (a deleted one is missing).
async fn templates(
    c: &Console,
    ids: Vec<RecurringId>,
) -> Result<HashMap<RecurringId, TemplateView>, ApiFailure> {
    let mut out = HashMap::new();
    for id in ids {
        if out.contains_key(&id) {
            continue;
        }
        match c
            .api
            .get::<TemplateView>(format!("/api/v1/recurring-invoices/{id}"))
            .await
        {
            Ok(t) => {
                out.insert(id, t);
            }
            Err(e) if e.status == StatusCode::NOT_FOUND => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

fn template_cell(templates: &HashMap<RecurringId, TemplateView>, id: RecurringId) -> Markup {
    html! {
        @match templates.get(&id) {
            Some(t) => a href={ "/console/recurring/" (id) } { (t.name) },
            None => span.muted { "(deleted template)" },
        }
    }
}

/// The start form as entered.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartFields {
    #[serde(default)]
    as_of: String,
}

fn start_form(c: &Console, as_of: &str, problem: Option<&ApiFailure>) -> Markup {
    html! {
        form.stack #start-billing-run method="post" action="/console/billing-runs" {
            h2 { "Start a billing run" }
            (layout::csrf_field(c.csrf()))
            (refusal(problem))
            (input("Bill periods starting on or before", "as_of", "date", as_of, problem))
            button #start-run type="submit" { "Start billing run" }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    #[serde(default)]
    cursor: String,
}

pub async fn list(c: Console, Query(p): Query<ListParams>) -> Result<Response, ApiFailure> {
    runs_page(c, &p.cursor, None).await
}

async fn runs_page(
    c: Console,
    cursor: &str,
    refused: Option<(StartFields, ApiFailure)>,
) -> Result<Response, ApiFailure> {
    let page: Page<BillingRunSummary> = c
        .api
        .get(format!(
            "/api/v1/billing-runs{}",
            query(&[("cursor", cursor)])
        ))
        .await?;
    let today = c.fmt.today(c.now).to_string();
    let (as_of, problem) = match &refused {
        Some((f, e)) => (f.as_of.as_str(), Some(e)),
        None => (today.as_str(), None),
    };
    let status = problem.map(|e| e.status).unwrap_or(StatusCode::OK);
    let body = html! {
        (finance_nav(FinancePage::BillingRuns))
        h1 { "Billing runs" }
        div.grid {
            (start_form(&c, as_of, problem))
            form.stack #preview-billing-run method="get" action="/console/billing-runs/preview" {
                h2 { "Preview a billing run" }
                p.muted { "What a run would bill, without billing anything." }
                label for="p-as_of" { "Bill periods starting on or before" }
                input #p-as_of name="as_of" type="date" value=(today);
                button #preview-run type="submit" { "Preview" }
            }
        }
        section.card #runs-section aria-labelledby="runs-title" {
            h2 #runs-title { "Runs " span.muted { "(" (page.total) ")" } }
            @if page.data.is_empty() {
                p.muted { "No billing run yet." }
            } @else {
                div.scroll { table #runs {
                    thead { tr {
                        th { "Started" } th { "As of" } th { "Trigger" } th { "State" }
                        th.n { "Periods" } th.n { "Invoices" } th.n { "Skipped" } th.n { "Failed" }
                    } }
                    tbody { @for r in &page.data {
                        @let (label, class) = state_label(r.state);
                        tr id={ "run-" (r.id) } {
                            td { a href={ "/console/billing-runs/" (r.id) } { (c.fmt.datetime(r.created_at)) } }
                            td { (c.fmt.date(r.as_of)) }
                            td { (r.trigger) }
                            td class=(class) { (label) }
                            td.n { (r.periods.map(|n| n.to_string()).unwrap_or_default()) }
                            td.n { (r.invoices_created) }
                            td.n { (r.skipped) }
                            td.n { (r.failed) }
                        }
                    } }
                } }
            }
            (next_link("/console/billing-runs", &[], page.next_cursor.as_deref()))
        }
    };
    Ok(c.page_with(status, Some(Section::Finance), "Billing runs", body))
}

#[derive(Debug, Default, Deserialize)]
pub struct PreviewParams {
    #[serde(default)]
    as_of: String,
}

/// A dry run: what a run on `as_of` would bill, and the form to start it.
pub async fn preview(c: Console, Query(p): Query<PreviewParams>) -> Result<Response, ApiFailure> {
    let as_of = p.as_of.trim();
    let body = json!({"as_of": (!as_of.is_empty()).then_some(as_of), "dry_run": true});
    let dry: DryRun = match c
        .api
        .send(Method::POST, "/api/v1/billing-runs", &body)
        .await
    {
        Ok(d) => d,
        Err(e) if e.is_validation() => {
            let f = StartFields {
                as_of: as_of.to_owned(),
            };
            return runs_page(c, "", Some((f, e))).await;
        }
        Err(e) => return Err(e),
    };
    let names = templates(&c, dry.items.iter().map(|i| i.template_id).collect()).await?;
    let body = html! {
        (finance_nav(FinancePage::BillingRuns))
        h1 { "Billing run preview" }
        dl.figures #dry-run-summary {
            dt { "As of" } dd { (c.fmt.date(dry.as_of)) }
            dt { "Templates due" } dd #dry-run-templates { (dry.templates) }
            dt { "Periods shown" } dd #dry-run-count {
                (dry.items.len())
                @if dry.items.len() >= DRY_RUN_SHOWN { " (the first " (DRY_RUN_SHOWN) ")" }
            }
        }
        @if dry.items.is_empty() {
            p.muted { "Nothing is due." }
        } @else {
            div.scroll { table #dry-run-periods {
                thead { tr { th { "Template" } th { "Period start" } th { "Outcome" } th.n { "Total" } th { "Note" } } }
                tbody { @for i in &dry.items {
                    @let (label, class) = outcome_label(i.outcome);
                    tr {
                        td { (template_cell(&names, i.template_id)) }
                        td { (c.fmt.date(i.period_start)) }
                        td class=(class) { "would be " (label) }
                        td.n {
                            @if let (Some(total), Some(currency)) = (i.total, i.currency.as_deref()) {
                                (c.fmt.money(total, currency))
                            }
                        }
                        td { (i.reason.as_deref().unwrap_or("")) }
                    }
                } }
            } }
        }
        (start_form(&c, &dry.as_of.to_string(), None))
    };
    Ok(c.page(Section::Finance, "Billing run preview", body))
}

pub async fn start(c: Console, Form(f): Form<StartFields>) -> Result<Response, ApiFailure> {
    let as_of = f.as_of.trim();
    let body = json!({"as_of": (!as_of.is_empty()).then_some(as_of)});
    match c
        .api
        .send::<BillingRun>(Method::POST, "/api/v1/billing-runs", &body)
        .await
    {
        Ok(run) => Ok(see_other(&format!(
            "/console/billing-runs/{}",
            run.summary.id
        ))),
        Err(e) if e.is_validation() => runs_page(c, "", Some((f, e))).await,
        Err(e) => Err(e),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct RunParams {
    #[serde(default)]
    cursor: String,
}

/// One row of `#run-periods`.
struct PeriodRow<'a> {
    template: Option<RecurringId>,
    start: NaiveDate,
    end: Option<NaiveDate>,
    outcome: PeriodResult,
    invoice: Option<&'a Invoice>,
    other: Option<&'a PeriodOutcome>,
}

pub async fn show(
    c: Console,
    Path(id): Path<String>,
    Query(p): Query<RunParams>,
) -> Result<Response, ApiFailure> {
    let id: BillingRunId = parse_id(&c, &id, "billing run")?;
    let run: BillingRun = c.api.get(format!("/api/v1/billing-runs/{id}")).await?;
    let id_text = id.to_string();
    let invoices: Page<Invoice> = c
        .api
        .get(format!(
            "/api/v1/invoices{}",
            query(&[
                ("billing_run_id", &id_text),
                ("limit", "200"),
                ("cursor", &p.cursor)
            ])
        ))
        .await?;
    // The created invoices (newest first from the API) in period order,
    // then on the first page the periods skipped and failed.
    let mut rows: Vec<PeriodRow> = invoices
        .data
        .iter()
        .map(|i| PeriodRow {
            template: i.recurring_invoice_id,
            start: i.period_start.unwrap_or(i.issue_date),
            end: i.period_end,
            outcome: PeriodResult::Created,
            invoice: Some(i),
            other: None,
        })
        .collect();
    rows.reverse();
    if p.cursor.is_empty() {
        for o in run.skips.iter().chain(&run.failures) {
            rows.push(PeriodRow {
                template: Some(o.template_id),
                start: o.period_start,
                end: None,
                outcome: o.outcome,
                invoice: None,
                other: Some(o),
            });
        }
    }
    let ids = rows.iter().filter_map(|r| r.template).collect();
    let names = templates(&c, ids).await?;
    let s = &run.summary;
    let (state, class) = state_label(s.state);
    let live = matches!(s.state, RunState::Pending | RunState::Running);
    let title = format!("Billing run of {}", c.fmt.date(s.as_of));
    let body = html! {
        (finance_nav(FinancePage::BillingRuns))
        h1 { (title) " " span #run-state class=(class) { "(" (state) ")" } }
        @if live {
            p.notice #run-live role="status" { "The run is still going; this page reloads until it is done." }
        }
        div.grid {
            section.card #run-summary aria-labelledby="run-summary-title" {
                h2 #run-summary-title { "Summary" }
                dl.figures {
                    dt { "As of" } dd { (c.fmt.date(s.as_of)) }
                    dt { "Trigger" } dd { (s.trigger) }
                    dt { "Queued" } dd { (c.fmt.datetime(s.created_at)) }
                    @if let Some(t) = s.started_at { dt { "Started" } dd { (c.fmt.datetime(t)) } }
                    @if let Some(t) = s.finished_at { dt { "Finished" } dd { (c.fmt.datetime(t)) } }
                    dt { "Templates due" } dd #run-templates { (s.templates.map(|n| n.to_string()).unwrap_or_else(|| "–".into())) }
                    dt { "Periods due" } dd #run-period-count { (s.periods.map(|n| n.to_string()).unwrap_or_else(|| "–".into())) }
                    dt { "Invoices created" } dd #run-created { (s.invoices_created) }
                    dt { "Skipped" } dd #run-skipped { (s.skipped) }
                    dt { "Failed" } dd #run-failed { (s.failed) }
                    dt { "Pending" } dd { (s.pending) }
                    dt { "Unbilled" } dd { (s.unbilled) }
                }
            }
            @if !run.chunk_errors.is_empty() {
                section.card #chunk-errors aria-labelledby="chunk-errors-title" {
                    h2 #chunk-errors-title { "Errors" }
                    div.scroll { table {
                        thead { tr { th { "Job" } th { "State" } th.n { "Attempts" } th.n { "Periods" } th { "Error" } } }
                        tbody { @for e in &run.chunk_errors {
                            tr {
                                td { code { (e.job_id) } }
                                td { (e.state) }
                                td.n { (e.attempts) " / " (e.max_attempts) }
                                td.n { (e.periods) }
                                td { (e.error.as_deref().unwrap_or("")) }
                            }
                        } }
                    } }
                }
            }
        }
        section.card #periods aria-labelledby="periods-title" {
            h2 #periods-title { "Periods" }
            div.scroll { table #run-periods {
                thead { tr {
                    th { "Template" } th { "Period" } th { "Outcome" } th { "Invoice" } th.n { "Total" } th { "Note" }
                } }
                tbody {
                    @if rows.is_empty() {
                        tr #no-periods { td colspan="6" { @if live { "None settled yet." } @else { "The run billed nothing." } } }
                    }
                    @for r in &rows {
                        @let (label, class) = outcome_label(r.outcome);
                        tr id=[r.invoice.map(|i| format!("period-{}", i.id))] {
                            td { @if let Some(t) = r.template { (template_cell(&names, t)) } }
                            td {
                                (c.fmt.date(r.start))
                                @if let Some(e) = r.end { " – " (c.fmt.date(e)) }
                            }
                            td class=(class) { (label) }
                            td {
                                @if let Some(i) = r.invoice {
                                    a href={ "/console/invoices/" (i.id) } { (i.number.as_deref().unwrap_or("draft")) }
                                } @else if let Some(inv) = r.other.and_then(|o| o.invoice_id) {
                                    a href={ "/console/invoices/" (inv) } { "billed" }
                                }
                            }
                            td.n { @if let Some(i) = r.invoice { (c.fmt.money(i.total, &i.currency)) } }
                            td {
                                @if let Some(o) = r.other {
                                    (o.reason.as_deref().unwrap_or(""))
                                    @if let Some(by) = o.billed_by_run {
                                        @if by != id { " " a href={ "/console/billing-runs/" (by) } { "(by another run)" } }
                                    }
                                }
                            }
                        }
                    }
                }
            } }
            (next_link(&format!("/console/billing-runs/{id}"), &[], invoices.next_cursor.as_deref()))
        }
    };
    let mut r = c.page(Section::Finance, &title, body);
    if live {
        r.headers_mut()
            .insert("refresh", HeaderValue::from_static("2"));
    }
    Ok(r)
}
