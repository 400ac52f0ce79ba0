//! Reports: snapshots the workers compute (`aggregate`) and the API reads
//! (`read`), so a read costs one indexed range scan however large the
//! tenant.
//!
//! Every report is a list of rows per period: a day, a week (its Monday), a
//! month (its first day), all in the company's time zone, or the as-of date
//! of a point-in-time report. Each report's columns are declared once here
//! ([`ReportName::columns`]); the JSON and CSV forms come from them. The
//! rules each figure follows are written next to the SQL that computes it
//! (`aggregate.rs`, `mrr.rs`) and in the README.

mod aggregate;
pub mod management;
mod mrr;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::kernel::pagination::{Cursor, PageRequest};
use crate::kernel::roles::Permission;
use crate::kernel::text::text_enum;
use crate::kernel::validation::ValidationErrors;
use crate::{ClientId, DomainError, DomainResult, TenantTx, kernel::money};

pub use aggregate::{AggregateMode, AggregateSummary, aggregate};

text_enum!(
    /// A report's name, as in `/api/v1/reports/{name}`.
    ReportName {
        FinanceSummary = "finance_summary",
        ArAgeing = "ar_ageing",
        Mrr = "mrr",
        RevenueByClient = "revenue_by_client",
        RevenueByProduct = "revenue_by_product",
        TicketVolumeDaily = "ticket_volume_daily",
        TicketVolumeWeekly = "ticket_volume_weekly",
        ResponseTimes = "response_times",
        SlaCompliance = "sla_compliance",
        TicketsByClient = "tickets_by_client",
        TicketsBySource = "tickets_by_source",
        TicketsByTechnician = "tickets_by_technician",
        WarrantiesExpiring = "warranties_expiring",
        ProjectsByStatus = "projects_by_status",
    }
);

text_enum!(
    /// Who may read a report: finance reports are for accountants and
    /// admins, service reports for techs and admins.
    Audience {
        Finance = "finance",
        Service = "service",
    }
);

text_enum!(
    /// What a report's `period` is.
    Granularity {
        Day = "day",
        /// The Monday of an ISO week.
        Week = "week",
        /// The first of the month.
        Month = "month",
        /// A point-in-time report: one period, the date it was computed for.
        AsOf = "as_of",
    }
);

/// What a column holds, which fixes how it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ColumnKind {
    Text,
    /// A whole number.
    Count,
    /// A decimal string with the row's currency's digits.
    Money,
    /// Whole minutes (rounded down), or null when nothing was measured.
    Minutes,
    /// A percentage with one decimal, as a string, or null.
    Percent,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct Column {
    pub name: &'static str,
    pub kind: ColumnKind,
}

const fn col(name: &'static str, kind: ColumnKind) -> Column {
    Column { name, kind }
}

use ColumnKind::{Count, Minutes, Money, Percent, Text};

const FINANCE_SUMMARY: &[Column] = &[
    col("currency", Text),
    col("invoiced", Money),
    col("collected", Money),
    col("outstanding", Money),
    col("credit", Money),
];
const AR_AGEING: &[Column] = &[
    col("client_id", Text),
    col("client_name", Text),
    col("currency", Text),
    col("current", Money),
    col("days_1_30", Money),
    col("days_31_60", Money),
    col("days_61_90", Money),
    col("days_over_90", Money),
    col("total", Money),
];
const MRR: &[Column] = &[
    col("currency", Text),
    col("mrr", Money),
    col("arr", Money),
    col("new", Money),
    col("expansion", Money),
    col("contraction", Money),
    col("churn", Money),
    col("customers", Count),
];
const REVENUE_BY_CLIENT: &[Column] = &[
    col("client_id", Text),
    col("client_name", Text),
    col("currency", Text),
    col("revenue", Money),
    col("invoices", Count),
];
const REVENUE_BY_PRODUCT: &[Column] = &[
    col("product_id", Text),
    col("product_name", Text),
    col("currency", Text),
    col("revenue", Money),
    col("lines", Count),
];
const TICKET_VOLUME: &[Column] = &[
    col("opened", Count),
    col("resolved", Count),
    col("backlog", Count),
];
const RESPONSE_TIMES: &[Column] = &[
    col("priority", Text),
    col("tickets", Count),
    col("responded", Count),
    col("first_response_median_minutes", Minutes),
    col("first_response_p90_minutes", Minutes),
    col("resolved", Count),
    col("resolution_median_minutes", Minutes),
    col("resolution_p90_minutes", Minutes),
];
const SLA_COMPLIANCE: &[Column] = &[
    col("priority", Text),
    col("tickets", Count),
    col("response_met", Count),
    col("response_breached", Count),
    col("response_pending", Count),
    col("resolution_met", Count),
    col("resolution_breached", Count),
    col("resolution_pending", Count),
    col("compliance_percent", Percent),
];
const TICKETS_BY_CLIENT: &[Column] = &[
    col("client_id", Text),
    col("client_name", Text),
    col("opened", Count),
    col("resolved", Count),
];
const TICKETS_BY_SOURCE: &[Column] = &[
    col("source", Text),
    col("opened", Count),
    col("resolved", Count),
];
const TICKETS_BY_TECHNICIAN: &[Column] = &[
    col("technician_id", Text),
    col("technician_name", Text),
    col("opened", Count),
    col("resolved", Count),
];
const WARRANTIES_EXPIRING: &[Column] = &[col("assets", Count), col("clients", Count)];
const PROJECTS_BY_STATUS: &[Column] = &[
    col("status", Text),
    col("projects", Count),
    col("overdue", Count),
];

impl ReportName {
    pub fn audience(self) -> Audience {
        use ReportName::*;
        match self {
            FinanceSummary | ArAgeing | Mrr | RevenueByClient | RevenueByProduct => {
                Audience::Finance
            }
            _ => Audience::Service,
        }
    }

    pub fn granularity(self) -> Granularity {
        use ReportName::*;
        match self {
            TicketVolumeDaily => Granularity::Day,
            TicketVolumeWeekly => Granularity::Week,
            ArAgeing | ProjectsByStatus => Granularity::AsOf,
            _ => Granularity::Month,
        }
    }

    /// Whether rows belong to one client each (and `client_id` filters).
    pub fn by_client(self) -> bool {
        matches!(
            self,
            ReportName::ArAgeing | ReportName::RevenueByClient | ReportName::TicketsByClient
        )
    }

    pub fn columns(self) -> &'static [Column] {
        use ReportName::*;
        match self {
            FinanceSummary => FINANCE_SUMMARY,
            ArAgeing => AR_AGEING,
            Mrr => MRR,
            RevenueByClient => REVENUE_BY_CLIENT,
            RevenueByProduct => REVENUE_BY_PRODUCT,
            TicketVolumeDaily | TicketVolumeWeekly => TICKET_VOLUME,
            ResponseTimes => RESPONSE_TIMES,
            SlaCompliance => SLA_COMPLIANCE,
            TicketsByClient => TICKETS_BY_CLIENT,
            TicketsBySource => TICKETS_BY_SOURCE,
            TicketsByTechnician => TICKETS_BY_TECHNICIAN,
            WarrantiesExpiring => WARRANTIES_EXPIRING,
            ProjectsByStatus => PROJECTS_BY_STATUS,
        }
    }

    pub fn title(self) -> &'static str {
        use ReportName::*;
        match self {
            FinanceSummary => "Invoiced, collected, outstanding and credit by month",
            ArAgeing => "Accounts receivable ageing by client",
            Mrr => "MRR and ARR with new, expansion, contraction and churn",
            RevenueByClient => "Revenue by client by month",
            RevenueByProduct => "Revenue by product by month",
            TicketVolumeDaily => "Tickets opened, resolved and backlog by day",
            TicketVolumeWeekly => "Tickets opened, resolved and backlog by week",
            ResponseTimes => "First-response and resolution times by priority",
            SlaCompliance => "SLA compliance by policy",
            TicketsByClient => "Tickets by client",
            TicketsBySource => "Tickets by source",
            TicketsByTechnician => "Tickets by technician",
            WarrantiesExpiring => "Warranties expiring by month",
            ProjectsByStatus => "Open projects by status",
        }
    }

    /// The rules the report's figures follow, in a sentence or two.
    pub fn description(self) -> &'static str {
        use ReportName::*;
        match self {
            FinanceSummary => {
                "Per month of issue and currency: invoiced is the total of finalized invoices (voided ones \
                 left out); collected is payments less refunds by payment date; outstanding is what \
                 finalized invoices still owed at the month's end; credit is the clients' credit balance \
                 at the month's end."
            }
            ArAgeing => {
                "Open balances by client and currency on the as-of date, by days past the due date: \
                 current (not yet due), 1-30, 31-60, 61-90, over 90."
            }
            Mrr => {
                "Monthly recurring revenue of the recurring templates active on the month's last day \
                 (today for this month), before tax: a template's period net turned monthly (months ÷ N, \
                 years ÷ 12N, weeks × 52 ÷ 12N, days × 365 ÷ 12N) and rounded. Movements compare each \
                 client's MRR with the month before: new (from nothing), expansion, contraction and \
                 churn (to nothing). ARR is 12 × MRR."
            }
            RevenueByClient => {
                "Per month of issue, client and currency: the net (after discounts, before tax) of finalized invoices."
            }
            RevenueByProduct => {
                "Per month of issue, product and currency: the net (after discounts, before tax) of the lines of finalized invoices."
            }
            TicketVolumeDaily | TicketVolumeWeekly => {
                "Tickets opened and resolved (or closed) in the period, and the backlog of tickets not \
                 resolved at its end."
            }
            ResponseTimes => {
                "Per month a ticket was opened in, and its priority: minutes from opening to the first \
                 public reply and to resolution, wall-clock time, median and 90th percentile by nearest \
                 rank (the smallest value at or above which that share of the tickets falls)."
            }
            SlaCompliance => {
                "Per month a ticket was opened in, for tickets under a policy (one per priority): targets met, \
                 breached and still running; compliance is met ÷ (met + breached) over both targets."
            }
            TicketsByClient | TicketsBySource | TicketsByTechnician => {
                "Tickets opened in the month, and tickets resolved in the month."
            }
            WarrantiesExpiring => {
                "Assets that are not retired whose warranty expires in the month, and how many clients they belong to."
            }
            ProjectsByStatus => {
                "Projects planned, active or on hold on the as-of date, and how many of them are past their due date."
            }
        }
    }

    /// What reading (and refreshing) the report needs.
    pub fn permission(self) -> Permission {
        match self.audience() {
            Audience::Finance => Permission::FinanceReports,
            Audience::Service => Permission::ServiceReports,
        }
    }
}

/// One report in the list, with when its snapshot was computed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReportInfo {
    pub name: ReportName,
    pub title: &'static str,
    pub description: &'static str,
    pub audience: Audience,
    pub granularity: Granularity,
    pub by_client: bool,
    pub columns: Vec<Column>,
    /// Null until the report has been computed.
    pub computed_at: Option<DateTime<Utc>>,
    pub as_of: Option<NaiveDate>,
}

#[derive(sqlx::FromRow)]
struct SnapshotRow {
    report: String,
    computed_at: DateTime<Utc>,
    as_of: NaiveDate,
}

/// The reports `visible` lets through, with their snapshots' times.
pub async fn list(
    tx: &mut TenantTx,
    visible: impl Fn(ReportName) -> bool,
) -> DomainResult<Vec<ReportInfo>> {
    let tenant = tx.tenant();
    let snaps: Vec<SnapshotRow> = sqlx::query_as(
        "SELECT report, computed_at, as_of FROM report_snapshots WHERE company_id = $1",
    )
    .bind(tenant)
    .fetch_all(tx.conn())
    .await?;
    Ok(ReportName::ALL
        .iter()
        .copied()
        .filter(|r| visible(*r))
        .map(|r| {
            let snap = snaps.iter().find(|s| s.report == r.as_str());
            ReportInfo {
                name: r,
                title: r.title(),
                description: r.description(),
                audience: r.audience(),
                granularity: r.granularity(),
                by_client: r.by_client(),
                columns: r.columns().to_vec(),
                computed_at: snap.map(|s| s.computed_at),
                as_of: snap.map(|s| s.as_of),
            }
        })
        .collect())
}

/// Rows one page of a report holds by default, and at most.
pub const DEFAULT_ROWS: i64 = 500;
pub const MAX_ROWS: i64 = 5000;

/// What a read asks for.
#[derive(Debug, Clone, Default)]
pub struct ReportQuery {
    /// First period wanted (a date; rows are kept whose period starts in
    /// `[from, to]`). Defaults: 90 days, 13 weeks or 12 months back from `to`.
    pub from: Option<NaiveDate>,
    /// Last period wanted; defaults to the snapshot's as-of date.
    pub to: Option<NaiveDate>,
    /// Only this client's rows (reports by client only).
    pub client_id: Option<ClientId>,
    /// A page of rows (`DEFAULT_ROWS` by default); `None` reads every row
    /// of the range (CSV, the management report).
    pub page: Option<PageRequest>,
}

/// A report read from its snapshot.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReportData {
    pub report: ReportName,
    pub title: &'static str,
    pub audience: Audience,
    pub granularity: Granularity,
    /// When the snapshot was computed; null (and no rows) until it is.
    pub computed_at: Option<DateTime<Utc>>,
    /// The day the snapshot was computed for, in the company's time zone.
    pub as_of: Option<NaiveDate>,
    /// `full` or `incremental`.
    pub mode: Option<String>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub client_id: Option<ClientId>,
    pub columns: Vec<Column>,
    /// `period` and then the columns, in order.
    #[schema(value_type = Vec<Object>)]
    pub rows: Vec<serde_json::Map<String, serde_json::Value>>,
    /// Pass back as `cursor` for the next page of rows; null on the last.
    pub next_cursor: Option<String>,
}

/// The longest range one read may ask for.
const MAX_RANGE_DAYS: i64 = 3700;

#[derive(sqlx::FromRow)]
struct Snapshot {
    computed_at: DateTime<Utc>,
    as_of: NaiveDate,
    mode: String,
}

/// Reads a report's snapshot for a range of periods.
pub async fn read(
    tx: &mut TenantTx,
    name: ReportName,
    q: &ReportQuery,
) -> DomainResult<ReportData> {
    let mut v = ValidationErrors::new();
    if q.client_id.is_some() && !name.by_client() {
        v.add(
            "client_id",
            "not_applicable",
            format!("{} is not broken down by client", name.as_str()),
        );
    }
    if let (Some(f), Some(t)) = (q.from, q.to) {
        if f > t {
            v.add("from", "after_to", "from must not be after to");
        } else if (t - f).num_days() > MAX_RANGE_DAYS {
            v.add(
                "from",
                "range_too_long",
                format!("a read covers at most {MAX_RANGE_DAYS} days"),
            );
        }
    }
    v.finish()?;
    let tenant = tx.tenant();
    let snap: Option<Snapshot> = sqlx::query_as(
        "SELECT computed_at, as_of, mode FROM report_snapshots WHERE company_id = $1 AND report = $2",
    )
    .bind(tenant)
    .bind(name.as_str())
    .fetch_optional(tx.conn())
    .await?;
    let mut out = ReportData {
        report: name,
        title: name.title(),
        audience: name.audience(),
        granularity: name.granularity(),
        computed_at: None,
        as_of: None,
        mode: None,
        from: None,
        to: None,
        client_id: q.client_id,
        columns: name.columns().to_vec(),
        rows: Vec::new(),
        next_cursor: None,
    };
    let Some(snap) = snap else {
        return Ok(out);
    };
    let (from, to) = match name.granularity() {
        Granularity::AsOf => (snap.as_of, snap.as_of),
        g => {
            let to = q.to.unwrap_or(snap.as_of);
            let from = q.from.unwrap_or_else(|| default_from(g, to));
            (from, to)
        }
    };
    // Rows sort by (period, key); a cursor names the last one shown.
    let after: Option<(NaiveDate, String)> = match q.page.as_ref().and_then(|p| p.after.as_ref()) {
        None => None,
        Some(c) => match c
            .key
            .split_once('|')
            .and_then(|(p, k)| Some((p.parse::<NaiveDate>().ok()?, k.to_owned())))
        {
            Some(after) => Some(after),
            None => {
                let mut v = ValidationErrors::new();
                v.add("cursor", "invalid", "cursor is not one this API returned");
                return Err(DomainError::Validation(v));
            }
        },
    };
    let fetch = q.page.as_ref().map(|p| p.fetch()).unwrap_or(i64::MAX);
    // Two statements, so each has the plan of its index (the client filter
    // has one of its own).
    let client_filter = if q.client_id.is_some() {
        "client_id = $3"
    } else {
        "$3::uuid IS NULL"
    };
    let mut rows: Vec<(NaiveDate, String, serde_json::Value)> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT period, key, data FROM report_rows WHERE company_id = $1 AND report = $2 \
         AND {client_filter} AND period BETWEEN $4 AND $5 \
         AND ($6::date IS NULL OR (period, key) > ($6, $7)) \
         ORDER BY period, key LIMIT $8"
        )))
        .bind(tenant)
        .bind(name.as_str())
        .bind(q.client_id)
        .bind(from)
        .bind(to)
        .bind(after.as_ref().map(|a| a.0))
        .bind(after.as_ref().map(|a| a.1.clone()).unwrap_or_default())
        .bind(fetch)
        .fetch_all(tx.conn())
        .await?;
    if let Some(page) = &q.page
        && rows.len() as i64 > page.limit
    {
        rows.truncate(page.limit as usize);
        out.next_cursor = rows.last().map(|(p, k, _)| {
            Cursor {
                key: format!("{p}|{k}"),
                id: uuid::Uuid::nil(),
            }
            .encode()
        });
    }
    out.rows = rows
        .into_iter()
        .map(|(period, _, data)| shape_row(name, period, &data))
        .collect();
    out.computed_at = Some(snap.computed_at);
    out.as_of = Some(snap.as_of);
    out.mode = Some(snap.mode);
    out.from = Some(from);
    out.to = Some(to);
    Ok(out)
}

/// 90 days, 13 weeks (from a Monday) or 12 months (from a first) back.
fn default_from(g: Granularity, to: NaiveDate) -> NaiveDate {
    match g {
        Granularity::Day => to - Duration::days(89),
        Granularity::Week => {
            to - Duration::days(i64::from(to.weekday().num_days_from_monday()) + 7 * 12)
        }
        Granularity::Month | Granularity::AsOf => {
            let first = to.with_day(1).unwrap_or(to);
            crate::billing::billing_periods::add_months_clamped(first, -11).unwrap_or(first)
        }
    }
}

/// A stored row as the API shows it: `period`, then the declared columns in
/// order; money with the currency's digits.
fn shape_row(
    name: ReportName,
    period: NaiveDate,
    data: &serde_json::Value,
) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::Value;
    let minor = data
        .get("currency")
        .and_then(Value::as_str)
        .and_then(money::minor_units)
        .unwrap_or(2);
    let mut m = serde_json::Map::new();
    m.insert("period".into(), Value::String(period.to_string()));
    for c in name.columns() {
        let raw = data.get(c.name).cloned().unwrap_or(Value::Null);
        let v = match (c.kind, &raw) {
            (ColumnKind::Money, Value::String(s)) => s
                .parse::<Decimal>()
                .map(|d| Value::String(money::to_minor(d, minor).to_string()))
                .unwrap_or(raw),
            (ColumnKind::Count, Value::Null) => Value::from(0),
            _ => raw,
        };
        m.insert(c.name.to_owned(), v);
    }
    m
}

/// The report as CSV: a header of `period` and the columns, then a line per
/// row. Text cells are guarded against formulas as exports are
/// ([`crate::integrations::exports::guard`]); numbers and money are written as they are.
pub fn to_csv(data: &ReportData) -> DomainResult<String> {
    let csv_err = |e: csv::Error| DomainError::Internal(format!("writing CSV: {e}"));
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["period"];
    header.extend(data.columns.iter().map(|c| c.name));
    w.write_record(&header).map_err(csv_err)?;
    for row in &data.rows {
        let mut cells = vec![
            row.get("period")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        ];
        for c in &data.columns {
            cells.push(match row.get(c.name) {
                None | Some(serde_json::Value::Null) => String::new(),
                Some(serde_json::Value::String(s)) if c.kind == ColumnKind::Text => {
                    crate::integrations::exports::guard(s)
                }
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
            });
        }
        w.write_record(&cells).map_err(csv_err)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| DomainError::Internal(format!("writing CSV: {e}")))?;
    String::from_utf8(bytes).map_err(|e| DomainError::Internal(format!("writing CSV: {e}")))
}

/// The first of the month `d` is in.
pub(crate) fn month_of(d: NaiveDate) -> NaiveDate {
    d.with_day(1).unwrap_or(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::roles::Role;

    #[test]
    fn every_report_has_columns_and_an_audience() {
        for r in ReportName::ALL {
            assert!(!r.columns().is_empty(), "{r:?}");
            let readable = |role: Role| role.allows(r.permission());
            assert!(readable(Role::Admin));
            assert_ne!(readable(Role::Tech), readable(Role::Accountant));
        }
    }

    #[test]
    fn default_ranges() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        assert_eq!(
            default_from(Granularity::Month, d),
            NaiveDate::from_ymd_opt(2025, 12, 1).unwrap()
        );
        assert_eq!(
            default_from(Granularity::Week, d),
            NaiveDate::from_ymd_opt(2026, 8, 31).unwrap()
        );
        assert_eq!(
            default_from(Granularity::Day, d),
            NaiveDate::from_ymd_opt(2026, 8, 28).unwrap()
        );
    }
}
