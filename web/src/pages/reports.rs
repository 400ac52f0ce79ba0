//! `/console/reports`: the reports the user may read (`GET /reports`), and
//! one report from its snapshot with the API's period and client filters:
//! its rows as a table and as a chart drawn on the server
//! ([`crate::pages::chart`]), its CSV as the API writes it, and a button
//! that has the API recompute it. Finance reports are for accountants and
//! admins, service reports for techs and admins (the API's rule).

use std::collections::HashMap;

use axum::extract::{Path, Query};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use maud::{Markup, html};
use nestogy_api::admin::session::see_other;
use nestogy_domain::reports::management::StoredReport;
use nestogy_domain::reports::{Audience, ColumnKind, Granularity, ReportName};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::api_client::{ApiBody, ApiFailure, query};
use crate::fmt::label;
use crate::layout::{self, Section};
use crate::pages::chart::{self, Chart, Kind, Series};
use crate::pages::clients::{document, next_link, refusal};
use crate::picker::{ClientPicker, Spec};
use crate::session::{Console, Form, NoFields};

/// A column of a report as the API describes it.
#[derive(Debug, Clone, Deserialize)]
pub struct Column {
    pub name: String,
    pub kind: ColumnKind,
}

/// One report of `GET /reports` (the domain's `ReportInfo`, whose texts
/// are `&'static str`, read back owned).
#[derive(Debug, Clone, Deserialize)]
pub struct ReportInfo {
    pub name: ReportName,
    pub title: String,
    pub description: String,
    pub audience: Audience,
    pub granularity: Granularity,
    pub by_client: bool,
    pub columns: Vec<Column>,
    pub computed_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "nestogy_domain::kernel::dates::de_opt")]
    pub as_of: Option<NaiveDate>,
}

/// One report read from its snapshot (the domain's `ReportData`).
#[derive(Debug, Clone, Deserialize)]
pub struct ReportData {
    pub title: String,
    pub granularity: Granularity,
    pub computed_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "nestogy_domain::kernel::dates::de_opt")]
    pub as_of: Option<NaiveDate>,
    #[serde(default, deserialize_with = "nestogy_domain::kernel::dates::de_opt")]
    pub from: Option<NaiveDate>,
    #[serde(default, deserialize_with = "nestogy_domain::kernel::dates::de_opt")]
    pub to: Option<NaiveDate>,
    pub columns: Vec<Column>,
    pub rows: Vec<Map<String, Value>>,
    pub next_cursor: Option<String>,
}

fn report_of(name: &str) -> Result<ReportName, ApiFailure> {
    ReportName::parse(name).ok_or_else(|| ApiFailure::not_found("report"))
}

// ---------------------------------------------------------------- index

#[derive(Debug, Default, Deserialize)]
pub struct IndexParams {
    #[serde(default)]
    done: String,
}

pub async fn index(c: Console, Query(p): Query<IndexParams>) -> Result<Response, ApiFailure> {
    index_page(c, &p.done, None).await
}

async fn index_page(
    c: Console,
    done: &str,
    refused: Option<(ManagementFields, ApiFailure)>,
) -> Result<Response, ApiFailure> {
    let (reports, management) = tokio::join!(
        c.api.get::<Vec<ReportInfo>>("/api/v1/reports"),
        c.api
            .get_optional::<Vec<StoredReport>>("/api/v1/management-reports"),
    );
    let (reports, management) = (reports?, management?);
    let (mf, mp) = match &refused {
        Some((f, e)) => (Some(f), Some(e)),
        None => (None, None),
    };
    let status = mp.map(|e| e.status).unwrap_or(StatusCode::OK);
    let last_month = {
        let today = c.fmt.today(c.now);
        let first = today.with_day(1).unwrap_or(today);
        (first - chrono::Duration::days(1))
            .format("%Y-%m")
            .to_string()
    };
    let body = html! {
        h1 { "Reports" }
        @if done == "management" {
            p.notice #done role="status" { "The management report is being prepared; it is mailed to the finance list and listed here when ready." }
        }
        div.scroll { table #reports {
            thead { tr { th { "Report" } th { "For" } th { "By" } th { "Computed" } } }
            tbody { @for r in &reports {
                tr id={ "report-" (r.name.as_str()) } {
                    td {
                        a href={ "/console/reports/" (r.name.as_str()) } { (r.title) }
                        br; span.muted { (r.description) }
                    }
                    td { (label(r.audience.as_str())) }
                    td { (label(r.granularity.as_str())) }
                    td { @match r.computed_at {
                        Some(t) => (c.fmt.datetime(t)),
                        None => span.muted { "not yet" },
                    } }
                }
            } }
        } }
        @if let Some(m) = &management {
            section.card #management aria-labelledby="management-title" {
                h2 #management-title { "Monthly management reports" }
                @if m.is_empty() { p.muted { "No management report has been prepared yet." } } @else {
                    div.scroll { table #management-reports {
                        thead { tr { th { "Month" } th { "Prepared" } th.n { "Size" } th { "PDF" } } }
                        tbody { @for r in m {
                            @let ym = r.month.format("%Y-%m").to_string();
                            tr id={ "management-" (ym) } {
                                td { (c.fmt.date(r.month)) }
                                td { (c.fmt.datetime(r.rendered_at)) }
                                td.n { ((r.bytes + 1023) / 1024) " KB" }
                                td { a href={ "/console/management-reports/" (ym) "/pdf" } { (r.file_name) } }
                            }
                        } }
                    } }
                }
                @let d = ManagementFields { month: last_month.clone() };
                @let f = mf.unwrap_or(&d);
                form.stack #management-report method="post" action="/console/management-reports" {
                    (layout::csrf_field(c.csrf()))
                    (refusal(mp))
                    label for="f-month" { "Month" }
                    input #f-month name="month" type="month" value=(f.month) aria-invalid=[mp.and_then(|e| e.field("month")).map(|_| "true")];
                    @if let Some(m) = mp.and_then(|e| e.field("month")) { p.field-problem { (m) } }
                    button #management-report-submit type="submit" { "Prepare and mail the report" }
                }
            }
        }
    };
    Ok(c.page_with(status, Some(Section::Reports), "Reports", body))
}

/// The prepare-a-management-report form: a month as `2026-11`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManagementFields {
    #[serde(default)]
    month: String,
}

/// `2026-11` as the first of that month.
fn month_of(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(&format!("{}-01", s.trim()), "%Y-%m-%d").ok()
}

/// `POST /console/management-reports`: the API prepares and mails the
/// month's report in a job.
pub async fn prepare_management(
    c: Console,
    Form(f): Form<ManagementFields>,
) -> Result<Response, ApiFailure> {
    let month = month_of(&f.month).map(|d| d.to_string());
    let body = serde_json::json!({ "month": month.as_deref().unwrap_or(f.month.trim()) });
    match c
        .api
        .send::<Value>(Method::POST, "/api/v1/management-reports", &body)
        .await
    {
        Ok(_) => Ok(see_other("/console/reports?done=management")),
        Err(e) if e.is_validation() => index_page(c, "", Some((f, e))).await,
        Err(e) => Err(e),
    }
}

/// A month's management report PDF, through the API.
pub async fn management_pdf(c: Console, Path(month): Path<String>) -> Result<Response, ApiFailure> {
    let Some(m) = month_of(&month) else {
        return Err(ApiFailure::not_found("management report").in_frame(c.chrome.clone()));
    };
    document(
        &c,
        &format!("/api/v1/management-reports/{}/pdf", m.format("%Y-%m")),
        "Management report",
    )
    .await
}

// ---------------------------------------------------------------- one report

#[derive(Debug, Default, Deserialize)]
pub struct ReportParams {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    cursor: String,
    #[serde(default)]
    done: String,
    /// The client picker's search.
    #[serde(default)]
    client_q: String,
}

/// A cell's value as text, or "" for null.
fn raw(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    }
}

/// A cell's value as a number for the chart (0 when absent).
fn number(v: Option<&Value>) -> f64 {
    match v {
        Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
        Some(Value::String(s)) => s.parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

/// Whole minutes as "45 min", "3 h 05 min" or "2 d 4 h".
fn minutes(m: i64) -> String {
    if m < 60 {
        format!("{m} min")
    } else if m < 24 * 60 {
        format!("{} h {:02} min", m / 60, m % 60)
    } else {
        format!("{} d {} h", m / (24 * 60), (m % (24 * 60)) / 60)
    }
}

/// The columns the table and chart show: not the ids (the names are
/// shown).
fn shown(columns: &[Column]) -> Vec<&Column> {
    columns
        .iter()
        .filter(|c| !c.name.ends_with("_id"))
        .collect()
}

/// The chart of `data`'s rows: the money columns (else the counts) as
/// series; lines over the periods when the rows have no other dimension,
/// else bars by that dimension (its values summed over the periods shown).
/// Rows in other currencies than `currency` are left out of a money chart.
fn report_chart(
    c: &Console,
    id: &str,
    data: &ReportData,
    currency: &str,
) -> Option<(Markup, String)> {
    let kind = if data.columns.iter().any(|c| c.kind == ColumnKind::Money) {
        ColumnKind::Money
    } else {
        ColumnKind::Count
    };
    let series_cols: Vec<&Column> = data
        .columns
        .iter()
        .filter(|c| c.kind == kind)
        .take(6)
        .collect();
    if series_cols.is_empty() || data.rows.is_empty() {
        return None;
    }
    let dimension = data
        .columns
        .iter()
        .find(|c| c.kind == ColumnKind::Text && c.name != "currency" && !c.name.ends_with("_id"));
    let rows: Vec<&Map<String, Value>> = data
        .rows
        .iter()
        .filter(|r| {
            kind != ColumnKind::Money
                || r.get("currency")
                    .and_then(Value::as_str)
                    .is_none_or(|cur| cur == currency)
        })
        .collect();
    let mut categories: Vec<String> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut values: Vec<Vec<f64>> = vec![Vec::new(); series_cols.len()];
    for r in &rows {
        let key = match dimension {
            Some(d) => raw(r.get(&d.name)),
            None => raw(r.get("period")),
        };
        let at = *index.entry(key.clone()).or_insert_with(|| {
            let label = match (dimension, key.parse::<NaiveDate>()) {
                (None, Ok(d)) => c.fmt.date(d),
                _ => key.clone(),
            };
            categories.push(label);
            for v in values.iter_mut() {
                v.push(0.0);
            }
            categories.len() - 1
        });
        for (si, col) in series_cols.iter().enumerate() {
            values[si][at] += number(r.get(&col.name));
        }
    }
    let chart_kind = if dimension.is_none() && data.granularity != Granularity::AsOf {
        Kind::Lines
    } else {
        Kind::Bars
    };
    let money = |v: f64| c.fmt.money_text(&format!("{v}"), currency);
    let count = |v: f64| format!("{v}");
    let tick: &dyn Fn(f64) -> String = if kind == ColumnKind::Money {
        &money
    } else {
        &count
    };
    let periods = rows
        .iter()
        .filter_map(|r| r.get("period"))
        .collect::<std::collections::HashSet<_>>()
        .len();
    let mut caption = match dimension {
        Some(d) if periods > 1 => format!(
            "By {}, summed over the {periods} periods shown",
            label(&d.name).to_lowercase()
        ),
        Some(d) => format!("By {}", label(&d.name).to_lowercase()),
        None => "By period".to_owned(),
    };
    if kind == ColumnKind::Money && data.columns.iter().any(|c| c.name == "currency") {
        caption.push_str(&format!(", in {currency}"));
    }
    let svg = chart::chart(&Chart {
        id,
        title: &data.title,
        kind: chart_kind,
        categories,
        series: series_cols
            .iter()
            .zip(values)
            .map(|(col, values)| Series {
                name: label(&col.name),
                values,
            })
            .collect(),
        tick,
    });
    Some((svg, caption))
}

fn cell(c: &Console, col: &Column, row: &Map<String, Value>, currency: &str) -> Markup {
    let v = row.get(&col.name);
    let text = raw(v);
    html! {
        @match col.kind {
            ColumnKind::Text => td { (text) },
            ColumnKind::Count => td.n { (text) },
            ColumnKind::Money => td.n {
                @if !text.is_empty() {
                    (c.fmt.money_text(&text, row.get("currency").and_then(Value::as_str).unwrap_or(currency)))
                }
            },
            ColumnKind::Minutes => td.n {
                @match v.and_then(Value::as_i64) { Some(m) => (minutes(m)), None => "–" }
            },
            ColumnKind::Percent => td.n { @if text.is_empty() { "–" } @else { (text) "%" } },
        }
    }
}

pub async fn report(
    c: Console,
    Path(name): Path<String>,
    Query(p): Query<ReportParams>,
) -> Result<Response, ApiFailure> {
    let name = report_of(&name).map_err(|e| e.in_frame(c.chrome.clone()))?;
    let filters = [
        ("from", p.from.as_str()),
        ("to", p.to.as_str()),
        ("client_id", p.client_id.as_str()),
    ];
    let mut pairs = filters.to_vec();
    pairs.push(("cursor", p.cursor.as_str()));
    let (data, list) = tokio::join!(
        c.api.get::<ReportData>(format!(
            "/api/v1/reports/{}{}",
            name.as_str(),
            query(&pairs)
        )),
        c.api.get::<Vec<ReportInfo>>("/api/v1/reports"),
    );
    let (data, list) = (data?, list?);
    let info = list.iter().find(|r| r.name == name);
    let by_client = info.is_some_and(|i| i.by_client);
    let clients = if by_client {
        Some(ClientPicker::load(&c, &p.client_q, &p.client_id).await?)
    } else {
        None
    };
    let currency = c.company.currency.clone();
    let base = format!("/console/reports/{}", name.as_str());
    let csv_href = format!("{base}/csv{}", query(&filters));
    let cols = shown(&data.columns);
    let chart = report_chart(&c, "report-chart", &data, &currency);
    let point_in_time = data.granularity == Granularity::AsOf;
    let body = html! {
        h1 { (data.title) }
        @if p.done == "refresh" {
            p.notice #done role="status" { "The report is being recomputed; reload in a moment." }
        }
        @if let Some(i) = info { p.muted { (i.description) } }
        form #report-filter .inline method="get" action=(base) {
            @if !point_in_time {
                label for="from" { "From" }
                input #from name="from" type="date" value=(p.from);
                label for="to" { "To" }
                input #to name="to" type="date" value=(p.to);
            }
            @if let Some(cl) = &clients {
                (cl.render(Spec::new("client_id", "All clients", &base)))
            }
            @if !point_in_time || by_client { button type="submit" { "Show" } }
        }
        p.muted #report-range {
            @match data.computed_at {
                Some(t) => {
                    "Computed " (c.fmt.datetime(t))
                    @if let Some(d) = data.as_of { " as of " (c.fmt.date(d)) }
                    @if let (Some(f), Some(t), false) = (data.from, data.to, point_in_time) {
                        "; periods " (c.fmt.date(f)) " – " (c.fmt.date(t))
                    }
                    "."
                }
                None => "Not computed yet.",
            }
        }
        p {
            a #report-csv href=(csv_href) download { "Download CSV" }
        }
        (layout::post_button(&format!("{base}/refresh"), c.csrf(), "refresh-report", "Recompute now"))
        @if let Some((ch, caption)) = &chart {
            figure #chart-figure {
                (ch)
                figcaption.muted { (caption) "." }
            }
        }
        @if data.rows.is_empty() {
            p.muted #no-rows { "No rows in this range." }
        } @else {
            div.scroll { table #report-rows {
                thead { tr {
                    th scope="col" { @if point_in_time { "As of" } @else { "Period" } }
                    @for col in &cols {
                        th scope="col" class=[(col.kind != ColumnKind::Text).then_some("n")] { (label(&col.name)) }
                    }
                } }
                tbody { @for row in &data.rows {
                    tr {
                        td { @match row.get("period").and_then(Value::as_str).and_then(|s| s.parse::<NaiveDate>().ok()) {
                            Some(d) => (c.fmt.date(d)),
                            None => "",
                        } }
                        @for col in &cols { (cell(&c, col, row, &currency)) }
                    }
                } }
            } }
        }
        (next_link(&base, &filters, data.next_cursor.as_deref()))
        p { a href="/console/reports" { "All reports" } }
    };
    Ok(c.page(Section::Reports, &data.title, body))
}

/// The report's CSV as the API writes it (every row of the range), passed
/// on as a download.
pub async fn csv(
    c: Console,
    Path(name): Path<String>,
    Query(p): Query<ReportParams>,
) -> Result<Response, ApiFailure> {
    let name = report_of(&name).map_err(|e| e.in_frame(c.chrome.clone()))?;
    let filters = [
        ("from", p.from.as_str()),
        ("to", p.to.as_str()),
        ("client_id", p.client_id.as_str()),
    ];
    let r = c
        .api
        .bytes(
            Method::GET,
            format!("/api/v1/reports/{}{}", name.as_str(), query(&filters)),
            ApiBody::Empty,
            Some("text/csv"),
        )
        .await?;
    let mut out = (r.status, r.bytes).into_response();
    for h in [header::CONTENT_TYPE, header::CONTENT_DISPOSITION] {
        if let Some(v) = r.headers.get(&h) {
            out.headers_mut().insert(h, v.clone());
        }
    }
    out.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    Ok(out)
}

/// `POST /console/reports/{name}/refresh`: the API recomputes the report in
/// a job.
pub async fn refresh(
    c: Console,
    Path(name): Path<String>,
    Form(_): Form<NoFields>,
) -> Result<Response, ApiFailure> {
    let name = report_of(&name).map_err(|e| e.in_frame(c.chrome.clone()))?;
    c.api
        .send_empty::<Value>(
            Method::POST,
            format!("/api/v1/reports/{}/refresh", name.as_str()),
        )
        .await?;
    Ok(see_other(&format!(
        "/console/reports/{}?done=refresh",
        name.as_str()
    )))
}
