//! Computing the snapshots, per tenant, in one transaction under a lock (so
//! two runs at once follow each other, and a run repeated gives the same
//! rows).
//!
//! Incremental runs recompute only the periods whose data changed: triggers
//! note the changed days in `report_changes` (see the migration), a run takes
//! them and recomputes those days and months, then brings the running
//! figures (backlog, outstanding, credit) up to date from the first changed
//! period on. Point-in-time reports (ageing, projects) and warranties are
//! cheap and always computed whole; MRR (priced in Rust from the templates)
//! is recomputed from the last run's month on, or whole when a template or
//! product changed. A report without a snapshot yet is computed whole.

use std::collections::BTreeSet;
use std::time::Instant;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::{ReportName, month_of, mrr};
use crate::{DomainResult, TenantId, TenantTx};

/// How much an aggregation recomputes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregateMode {
    /// Only the periods changed since the last run (everything for a report
    /// never computed).
    Incremental,
    /// Every period.
    Full,
}

/// What one report's computation did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReportRun {
    pub report: ReportName,
    /// `full` or `incremental`.
    pub mode: &'static str,
    /// Periods recomputed.
    pub periods: usize,
    pub duration_ms: u64,
}

/// What an aggregation did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AggregateSummary {
    pub as_of: NaiveDate,
    /// Changed days taken from the change log.
    pub changed_days: usize,
    pub reports: Vec<ReportRun>,
}

/// Before every period (PostgreSQL's dates do not reach chrono's minimum).
const EARLIEST: NaiveDate = NaiveDate::from_ymd_opt(1, 1, 1).expect("a valid date");

/// The periods a report recomputes.
#[derive(Debug, Clone)]
enum Scope {
    Full,
    /// Days, or firsts of months, by the report's granularity.
    Periods(BTreeSet<NaiveDate>),
}

struct Ctx {
    tenant: TenantId,
    tz: String,
    today: NaiveDate,
    now: DateTime<Utc>,
    /// When MRR was last computed, and for which day.
    mrr_last: Option<(DateTime<Utc>, NaiveDate)>,
}

/// Computes the snapshots of every report, or of `only` (and what it is
/// computed from) in full.
pub async fn aggregate(
    tx: &mut TenantTx,
    only: Option<ReportName>,
    mode: AggregateMode,
) -> DomainResult<AggregateSummary> {
    let tenant = tx.tenant();
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('reports:' || $1::text, 0))")
        .bind(tenant)
        .execute(tx.conn())
        .await?;
    // Percentiles sort a month's tickets: in memory, not on disk. JIT
    // compiles for longer than these queries run. A generic plan (what
    // PostgreSQL switches a prepared statement to after five runs) cannot
    // see the months' bounds and reads every ticket of the tenant: 161 ms
    // instead of 4 ms for two months (measured on the benchmark's data).
    for setting in [
        "SET LOCAL work_mem = '64MB'",
        "SET LOCAL jit = off",
        "SET LOCAL plan_cache_mode = force_custom_plan",
    ] {
        sqlx::query(setting).execute(tx.conn()).await?;
    }
    let company = crate::identity::company::get(tx).await?;
    let mut ctx = Ctx {
        tenant,
        today: company.today(tx.now()),
        tz: company.time_zone.clone(),
        now: tx.now(),
        mrr_last: None,
    };
    // A run of one report leaves the change log to the nightly run.
    let changes: Vec<(String, NaiveDate)> = if only.is_none() {
        sqlx::query_as("DELETE FROM report_changes WHERE company_id = $1 RETURNING area, day")
            .bind(tenant)
            .fetch_all(tx.conn())
            .await?
    } else {
        Vec::new()
    };
    let finance_months: BTreeSet<NaiveDate> = changes
        .iter()
        .filter(|(a, d)| a == "finance" && *d <= ctx.today)
        .map(|(_, d)| month_of(*d))
        .collect();
    // A UTC day overlaps the local days either side of it.
    let service_days: BTreeSet<NaiveDate> = changes
        .iter()
        .filter(|(a, _)| a == "service")
        .flat_map(|(_, d)| [*d - Duration::days(1), *d, *d + Duration::days(1)])
        .filter(|d| *d <= ctx.today)
        .collect();
    let service_months: BTreeSet<NaiveDate> = service_days.iter().map(|d| month_of(*d)).collect();

    let snapshots: Vec<(String, DateTime<Utc>, NaiveDate)> = sqlx::query_as(
        "SELECT report, computed_at, as_of FROM report_snapshots WHERE company_id = $1",
    )
    .bind(tenant)
    .fetch_all(tx.conn())
    .await?;
    let computed: BTreeSet<String> = snapshots.iter().map(|s| s.0.clone()).collect();
    ctx.mrr_last = snapshots
        .iter()
        .find(|s| s.0 == ReportName::Mrr.as_str())
        .map(|s| (s.1, s.2));
    let targets: Vec<ReportName> = match only {
        // The weekly figures are summed from the daily ones.
        Some(ReportName::TicketVolumeWeekly) => vec![
            ReportName::TicketVolumeDaily,
            ReportName::TicketVolumeWeekly,
        ],
        Some(r) => vec![r],
        None => ReportName::ALL.to_vec(),
    };
    let mut runs = Vec::with_capacity(targets.len());
    // The earliest day the daily volume recomputed, for the weeks.
    let mut daily_from: Option<NaiveDate> = None;
    for r in targets {
        let started = Instant::now();
        let scope =
            if mode == AggregateMode::Full || only.is_some() || !computed.contains(r.as_str()) {
                Scope::Full
            } else {
                use ReportName::*;
                match r {
                    FinanceSummary | RevenueByClient | RevenueByProduct => {
                        Scope::Periods(finance_months.clone())
                    }
                    TicketVolumeDaily => Scope::Periods(service_days.clone()),
                    ResponseTimes | SlaCompliance | TicketsByClient | TicketsBySource
                    | TicketsByTechnician => Scope::Periods(service_months.clone()),
                    TicketVolumeWeekly => match daily_from {
                        Some(d) => Scope::Periods([d].into()),
                        None => Scope::Periods(BTreeSet::new()),
                    },
                    // Computed from its templates; only recent months unless they
                    // changed (see `mrr::compute`).
                    Mrr => Scope::Periods(BTreeSet::new()),
                    ArAgeing | WarrantiesExpiring | ProjectsByStatus => Scope::Full,
                }
            };
        let full = matches!(scope, Scope::Full);
        let periods = compute(tx, &ctx, r, scope, &mut daily_from).await?;
        let duration_ms = started.elapsed().as_millis() as u64;
        let mode_text = if full { "full" } else { "incremental" };
        sqlx::query(
            "INSERT INTO report_snapshots (company_id, report, computed_at, as_of, mode, periods, duration_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (company_id, report) DO UPDATE SET \
             computed_at = EXCLUDED.computed_at, as_of = EXCLUDED.as_of, mode = EXCLUDED.mode, \
             periods = EXCLUDED.periods, duration_ms = EXCLUDED.duration_ms",
        )
        .bind(tenant)
        .bind(r.as_str())
        .bind(ctx.now)
        .bind(ctx.today)
        .bind(mode_text)
        .bind(periods as i32)
        .bind(duration_ms.min(i32::MAX as u64) as i32)
        .execute(tx.conn())
        .await?;
        runs.push(ReportRun {
            report: r,
            mode: mode_text,
            periods,
            duration_ms,
        });
    }
    Ok(AggregateSummary {
        as_of: ctx.today,
        changed_days: changes.len(),
        reports: runs,
    })
}

async fn compute(
    tx: &mut TenantTx,
    ctx: &Ctx,
    r: ReportName,
    scope: Scope,
    daily_from: &mut Option<NaiveDate>,
) -> DomainResult<usize> {
    use ReportName::*;
    match r {
        FinanceSummary => finance_summary(tx, ctx, scope).await,
        RevenueByClient => monthly_finance(tx, ctx, r, REVENUE_BY_CLIENT_SQL, scope).await,
        RevenueByProduct => monthly_finance(tx, ctx, r, REVENUE_BY_PRODUCT_SQL, scope).await,
        ArAgeing => ar_ageing(tx, ctx).await,
        Mrr => {
            let last = match scope {
                Scope::Full => None,
                Scope::Periods(_) => ctx.mrr_last,
            };
            mrr::compute(tx, ctx.today, last).await
        }
        TicketVolumeDaily => {
            let (n, from) = ticket_volume_daily(tx, ctx, scope).await?;
            *daily_from = from;
            Ok(n)
        }
        TicketVolumeWeekly => ticket_volume_weekly(tx, ctx, scope).await,
        ResponseTimes => monthly_service(tx, ctx, r, RESPONSE_TIMES_SQL, scope).await,
        SlaCompliance => monthly_service(tx, ctx, r, SLA_COMPLIANCE_SQL, scope).await,
        TicketsByClient => monthly_service(tx, ctx, r, TICKETS_BY_CLIENT_SQL, scope).await,
        TicketsBySource => monthly_service(tx, ctx, r, TICKETS_BY_SOURCE_SQL, scope).await,
        TicketsByTechnician => monthly_service(tx, ctx, r, TICKETS_BY_TECHNICIAN_SQL, scope).await,
        WarrantiesExpiring => warranties_expiring(tx, ctx).await,
        ProjectsByStatus => projects_by_status(tx, ctx).await,
    }
}

/// Removes a report's rows: all of them, or those of the given periods.
async fn clear(
    tx: &mut TenantTx,
    r: ReportName,
    periods: Option<&[NaiveDate]>,
) -> DomainResult<()> {
    let tenant = tx.tenant();
    sqlx::query(
        "DELETE FROM report_rows WHERE company_id = $1 AND report = $2 \
         AND ($3::date[] IS NULL OR period = ANY($3))",
    )
    .bind(tenant)
    .bind(r.as_str())
    .bind(periods)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Every first of a month from `from`'s month to `to`'s.
pub(super) fn months_between(from: NaiveDate, to: NaiveDate) -> Vec<NaiveDate> {
    let mut out = Vec::new();
    let mut m = month_of(from);
    let last = month_of(to);
    while m <= last {
        out.push(m);
        match crate::billing::billing_periods::add_months_clamped(m, 1) {
            Some(n) => m = n,
            None => break,
        }
    }
    out
}

/// The months a finance report recomputes: those changed, or (in full)
/// every month from the first document's to this one.
async fn finance_months(
    tx: &mut TenantTx,
    ctx: &Ctx,
    scope: &Scope,
) -> DomainResult<Vec<NaiveDate>> {
    Ok(match scope {
        Scope::Periods(p) => p.iter().copied().collect(),
        Scope::Full => {
            let first: Option<NaiveDate> = sqlx::query_scalar(
                "SELECT min(d) FROM (SELECT min(issue_date) d FROM invoices WHERE company_id = $1 \
                 UNION ALL SELECT min(paid_on) FROM payments WHERE company_id = $1 \
                 UNION ALL SELECT min(on_date) FROM client_credits WHERE company_id = $1) x",
            )
            .bind(ctx.tenant)
            .fetch_one(tx.conn())
            .await?;
            first
                .map(|f| months_between(f.min(ctx.today), ctx.today))
                .unwrap_or_default()
        }
    })
}

/// Per month of issue and currency. The month's own figures: invoiced
/// (totals of finalized, not voided invoices), collected (payments less
/// refunds, by payment date), settled (what payments, refunds and applied
/// credit took off invoices) and the credit ledger's change; then, as
/// running sums over the months, outstanding (invoiced − settled) and the
/// credit balance. Every month from the first to this one has a row.
async fn finance_summary(tx: &mut TenantTx, ctx: &Ctx, scope: Scope) -> DomainResult<usize> {
    let r = ReportName::FinanceSummary;
    let full = matches!(scope, Scope::Full);
    let months = finance_months(tx, ctx, &scope).await?;
    clear(tx, r, (!full).then_some(months.as_slice())).await?;
    if months.is_empty() && !full {
        return Ok(0);
    }
    sqlx::query(
        "WITH months AS (SELECT unnest($2::date[]) AS m), \
         inv AS (SELECT date_trunc('month', issue_date::timestamp)::date m, currency::text cur, sum(total) v \
           FROM invoices WHERE company_id = $1 AND status NOT IN ('draft', 'void') \
           AND issue_date >= $3 AND issue_date < $4 \
           AND date_trunc('month', issue_date::timestamp)::date IN (SELECT m FROM months) GROUP BY 1, 2), \
         pay AS (SELECT date_trunc('month', p.paid_on::timestamp)::date m, p.currency::text cur, \
           sum(CASE WHEN p.kind = 'payment' THEN p.amount ELSE -p.amount END) collected, \
           sum(CASE WHEN i.status = 'void' THEN 0 WHEN p.kind = 'payment' THEN p.applied ELSE -p.applied END) settled \
           FROM payments p JOIN invoices i ON i.id = p.invoice_id \
           WHERE p.company_id = $1 AND p.paid_on >= $3 AND p.paid_on < $4 \
           AND date_trunc('month', p.paid_on::timestamp)::date IN (SELECT m FROM months) GROUP BY 1, 2), \
         cred AS (SELECT date_trunc('month', on_date::timestamp)::date m, currency::text cur, sum(amount) change, \
           sum(CASE WHEN invoice_id IS NOT NULL AND payment_id IS NULL AND amount < 0 THEN -amount ELSE 0 END) applied \
           FROM client_credits WHERE company_id = $1 AND on_date >= $3 AND on_date < $4 \
           AND date_trunc('month', on_date::timestamp)::date IN (SELECT m FROM months) GROUP BY 1, 2), \
         keys AS (SELECT m, cur FROM inv UNION SELECT m, cur FROM pay UNION SELECT m, cur FROM cred) \
         INSERT INTO report_rows (company_id, report, period, key, data) \
         SELECT $1, 'finance_summary', k.m, k.cur, jsonb_build_object( \
           'currency', k.cur, \
           'invoiced', COALESCE(inv.v, 0)::text, \
           'collected', COALESCE(pay.collected, 0)::text, \
           'settled', (COALESCE(pay.settled, 0) + COALESCE(cred.applied, 0))::text, \
           'credit_change', COALESCE(cred.change, 0)::text) \
         FROM keys k LEFT JOIN inv USING (m, cur) LEFT JOIN pay USING (m, cur) LEFT JOIN cred USING (m, cur)",
    )
    .bind(ctx.tenant)
    .bind(&months)
    .bind(months.first().copied().unwrap_or(ctx.today))
    .bind(
        months
            .last()
            .and_then(|m| crate::billing::billing_periods::add_months_clamped(*m, 1))
            .unwrap_or(ctx.today),
    )
    .execute(tx.conn())
    .await?;
    // Months without documents get a row of zeros, up to this month, so the
    // running figures have a row for every month.
    sqlx::query(
        "INSERT INTO report_rows (company_id, report, period, key, data) \
         SELECT $1, 'finance_summary', g::date, c.key, jsonb_build_object('currency', c.key, \
           'invoiced', '0', 'collected', '0', 'settled', '0', 'credit_change', '0') \
         FROM (SELECT key, min(period) lo FROM report_rows WHERE company_id = $1 AND report = 'finance_summary' \
               GROUP BY key) c, generate_series(c.lo, $2::date, interval '1 month') g \
         ON CONFLICT DO NOTHING",
    )
    .bind(ctx.tenant)
    .bind(month_of(ctx.today))
    .execute(tx.conn())
    .await?;
    sqlx::query(
        "UPDATE report_rows r SET data = r.data || jsonb_build_object('outstanding', s.outstanding::text, \
           'credit', s.credit::text) \
         FROM (SELECT period, key, \
                 sum((data->>'invoiced')::numeric - (data->>'settled')::numeric) OVER w AS outstanding, \
                 sum((data->>'credit_change')::numeric) OVER w AS credit \
               FROM report_rows WHERE company_id = $1 AND report = 'finance_summary' \
               WINDOW w AS (PARTITION BY key ORDER BY period)) s \
         WHERE r.company_id = $1 AND r.report = 'finance_summary' AND r.period = s.period AND r.key = s.key \
           AND r.period >= $2",
    )
    .bind(ctx.tenant)
    .bind(if full {
        EARLIEST
    } else {
        months.first().copied().unwrap_or(ctx.today)
    })
    .execute(tx.conn())
    .await?;
    Ok(months.len())
}

/// Per month of issue, client and currency: the finalized invoices' nets.
const REVENUE_BY_CLIENT_SQL: &str = "INSERT INTO report_rows (company_id, report, period, key, client_id, data) \
    SELECT $1, 'revenue_by_client', x.m, x.client_id::text || ':' || x.cur, x.client_id, jsonb_build_object( \
      'client_id', x.client_id, 'client_name', c.name, 'currency', x.cur, 'revenue', x.revenue::text, \
      'invoices', x.n) \
    FROM (SELECT date_trunc('month', issue_date::timestamp)::date m, client_id, currency::text cur, \
            sum(subtotal) revenue, count(*) n \
          FROM invoices WHERE company_id = $1 AND status NOT IN ('draft', 'void') \
          AND issue_date >= $3 AND issue_date < $4 \
          AND date_trunc('month', issue_date::timestamp)::date = ANY($2) GROUP BY 1, 2, 3) x \
    JOIN clients c ON c.id = x.client_id";

/// Per month of issue, product and currency: the nets of the finalized
/// invoices' lines (lines without a product together).
const REVENUE_BY_PRODUCT_SQL: &str = "INSERT INTO report_rows (company_id, report, period, key, data) \
    SELECT $1, 'revenue_by_product', x.m, COALESCE(x.product_id::text, 'none') || ':' || x.cur, jsonb_build_object( \
      'product_id', x.product_id, 'product_name', COALESCE(p.name, '(no product)'), 'currency', x.cur, \
      'revenue', x.revenue::text, 'lines', x.n) \
    FROM (SELECT date_trunc('month', i.issue_date::timestamp)::date m, l.product_id, i.currency::text cur, \
            sum(l.net) revenue, count(*) n \
          FROM invoices i JOIN invoice_lines l ON l.invoice_id = i.id AND l.company_id = $1 \
          WHERE i.company_id = $1 AND i.status NOT IN ('draft', 'void') \
          AND i.issue_date >= $3 AND i.issue_date < $4 \
          AND date_trunc('month', i.issue_date::timestamp)::date = ANY($2) GROUP BY 1, 2, 3) x \
    LEFT JOIN products p ON p.id = x.product_id";

/// A monthly finance report computed by one INSERT over months `$2` (with
/// `$3`, `$4` bounding them for the index).
async fn monthly_finance(
    tx: &mut TenantTx,
    ctx: &Ctx,
    r: ReportName,
    sql: &'static str,
    scope: Scope,
) -> DomainResult<usize> {
    let full = matches!(scope, Scope::Full);
    let months = finance_months(tx, ctx, &scope).await?;
    clear(tx, r, (!full).then_some(months.as_slice())).await?;
    let (Some(lo), Some(last)) = (months.first().copied(), months.last().copied()) else {
        return Ok(0);
    };
    let hi = crate::billing::billing_periods::add_months_clamped(last, 1).unwrap_or(last);
    sqlx::query(sql)
        .bind(ctx.tenant)
        .bind(&months)
        .bind(lo)
        .bind(hi)
        .execute(tx.conn())
        .await?;
    Ok(months.len())
}

/// Open balances on the as-of date by client and currency, by days past
/// due: current (not yet due: 0 days or fewer), 1–30, 31–60, 61–90, over 90.
async fn ar_ageing(tx: &mut TenantTx, ctx: &Ctx) -> DomainResult<usize> {
    clear(tx, ReportName::ArAgeing, None).await?;
    sqlx::query(
        "INSERT INTO report_rows (company_id, report, period, key, client_id, data) \
         SELECT $1, 'ar_ageing', $2, x.client_id::text || ':' || x.cur, x.client_id, jsonb_build_object( \
           'client_id', x.client_id, 'client_name', x.name, 'currency', x.cur, \
           'current', COALESCE(sum(x.bal) FILTER (WHERE x.days <= 0), 0)::text, \
           'days_1_30', COALESCE(sum(x.bal) FILTER (WHERE x.days BETWEEN 1 AND 30), 0)::text, \
           'days_31_60', COALESCE(sum(x.bal) FILTER (WHERE x.days BETWEEN 31 AND 60), 0)::text, \
           'days_61_90', COALESCE(sum(x.bal) FILTER (WHERE x.days BETWEEN 61 AND 90), 0)::text, \
           'days_over_90', COALESCE(sum(x.bal) FILTER (WHERE x.days > 90), 0)::text, \
           'total', sum(x.bal)::text) \
         FROM (SELECT i.client_id, c.name, i.currency::text cur, i.total - i.amount_paid bal, \
                 $2::date - i.due_date days \
               FROM invoices i JOIN clients c ON c.id = i.client_id \
               WHERE i.company_id = $1 AND i.status IN ('sent', 'partially_paid', 'overdue') \
               AND i.total > i.amount_paid AND i.issue_date <= $2) x \
         GROUP BY x.client_id, x.name, x.cur",
    )
    .bind(ctx.tenant)
    .bind(ctx.today)
    .execute(tx.conn())
    .await?;
    Ok(1)
}

/// Per local day: tickets opened, tickets resolved (or closed), and the
/// backlog at the day's end (the running sum of opened − resolved). Every
/// day from the first ticket's to today has a row. Returns the days
/// recomputed and the first of them.
async fn ticket_volume_daily(
    tx: &mut TenantTx,
    ctx: &Ctx,
    scope: Scope,
) -> DomainResult<(usize, Option<NaiveDate>)> {
    let r = ReportName::TicketVolumeDaily;
    let stored: (Option<NaiveDate>, Option<NaiveDate>) = sqlx::query_as(
        "SELECT min(period), max(period) FROM report_rows WHERE company_id = $1 AND report = $2",
    )
    .bind(ctx.tenant)
    .bind(r.as_str())
    .fetch_one(tx.conn())
    .await?;
    let days: Vec<NaiveDate> = match (&scope, stored) {
        // Changes within what is stored: those days, the days since the last
        // run, and the days before the first stored one if an earlier ticket
        // appeared (a changed day before it without one changes nothing).
        (Scope::Periods(p), (Some(first), Some(last))) => {
            let mut days: BTreeSet<NaiveDate> = p.range(first..).copied().collect();
            days.extend(first_to(last + Duration::days(1), ctx.today));
            if p.first().is_some_and(|d| *d < first)
                && let Some(earlier) = first_ticket_day(tx, ctx).await?.filter(|d| *d < first)
            {
                days.extend(first_to(earlier, first - Duration::days(1)));
            }
            days.into_iter().collect()
        }
        _ => {
            clear(tx, r, None).await?;
            match first_ticket_day(tx, ctx).await? {
                Some(local) => first_to(local.min(ctx.today), ctx.today),
                None => Vec::new(),
            }
        }
    };
    let Some(from) = days.first().copied() else {
        return Ok((0, None));
    };
    sqlx::query(
        "INSERT INTO report_rows (company_id, report, period, key, data) \
         SELECT $1, 'ticket_volume_daily', d.day, '', jsonb_build_object('opened', o.n, 'resolved', r.n, 'backlog', 0) \
         FROM (SELECT day, day::timestamp AT TIME ZONE $3 AS lo, (day + 1)::timestamp AT TIME ZONE $3 AS hi \
               FROM unnest($2::date[]) day OFFSET 0) d, \
         LATERAL (SELECT count(*) n FROM tickets WHERE company_id = $1 \
                  AND created_at >= d.lo AND created_at < d.hi) o, \
         LATERAL (SELECT count(*) n FROM tickets WHERE company_id = $1 AND resolved_at IS NOT NULL \
                  AND resolved_at >= d.lo AND resolved_at < d.hi) r \
         ON CONFLICT (company_id, report, period, key) DO UPDATE SET data = EXCLUDED.data",
    )
    .bind(ctx.tenant)
    .bind(&days)
    .bind(&ctx.tz)
    .execute(tx.conn())
    .await?;
    sqlx::query(
        "UPDATE report_rows r SET data = r.data || jsonb_build_object('backlog', s.backlog) \
         FROM (SELECT period, sum((data->>'opened')::bigint - (data->>'resolved')::bigint) \
                 OVER (ORDER BY period) AS backlog \
               FROM report_rows WHERE company_id = $1 AND report = 'ticket_volume_daily') s \
         WHERE r.company_id = $1 AND r.report = 'ticket_volume_daily' AND r.period = s.period \
           AND r.period >= $2 AND (r.data->'backlog') IS DISTINCT FROM to_jsonb(s.backlog)",
    )
    .bind(ctx.tenant)
    .bind(from)
    .execute(tx.conn())
    .await?;
    Ok((days.len(), Some(from)))
}

/// The local day the tenant's first ticket was opened.
async fn first_ticket_day(tx: &mut TenantTx, ctx: &Ctx) -> DomainResult<Option<NaiveDate>> {
    let first: Option<DateTime<Utc>> =
        sqlx::query_scalar("SELECT min(created_at) FROM tickets WHERE company_id = $1")
            .bind(ctx.tenant)
            .fetch_one(tx.conn())
            .await?;
    let tz: chrono_tz::Tz = ctx.tz.parse().unwrap_or(chrono_tz::UTC);
    Ok(first.map(|f| f.with_timezone(&tz).date_naive()))
}

/// Every day from `from` to `to`, inclusive.
fn first_to(from: NaiveDate, to: NaiveDate) -> Vec<NaiveDate> {
    from.iter_days().take_while(|d| *d <= to).collect()
}

/// Per ISO week (its Monday), summed from the daily rows: opened, resolved,
/// and the backlog at the week's last day so far.
async fn ticket_volume_weekly(tx: &mut TenantTx, ctx: &Ctx, scope: Scope) -> DomainResult<usize> {
    let from = match scope {
        Scope::Full => EARLIEST,
        Scope::Periods(p) => match p.first() {
            Some(d) => *d - Duration::days(i64::from(d.weekday().num_days_from_monday())),
            None => return Ok(0),
        },
    };
    sqlx::query(
        "DELETE FROM report_rows WHERE company_id = $1 AND report = 'ticket_volume_weekly' AND period >= $2",
    )
    .bind(ctx.tenant)
    .bind(from)
    .execute(tx.conn())
    .await?;
    let n = sqlx::query(
        "INSERT INTO report_rows (company_id, report, period, key, data) \
         SELECT $1, 'ticket_volume_weekly', w, '', jsonb_build_object('opened', sum(opened), \
           'resolved', sum(resolved), 'backlog', (array_agg(backlog ORDER BY period DESC))[1]) \
         FROM (SELECT date_trunc('week', period::timestamp)::date w, period, \
                 (data->>'opened')::bigint opened, (data->>'resolved')::bigint resolved, \
                 (data->>'backlog')::bigint backlog \
               FROM report_rows WHERE company_id = $1 AND report = 'ticket_volume_daily' AND period >= $2) d \
         GROUP BY w",
    )
    .bind(ctx.tenant)
    .bind(from)
    .execute(tx.conn())
    .await?
    .rows_affected();
    Ok(n as usize)
}

/// The months `$2` with their bounds in time zone `$3`, as `m(month, lo,
/// hi)`. The bounds are computed in a subquery the planner keeps (`OFFSET
/// 0`): written inline, `AT TIME ZONE` (not leakproof) would keep row-level
/// security from using them as index conditions, and every ticket of the
/// tenant would be read for each month (22 s instead of 35 ms for two years
/// of days, measured by the benchmark).
macro_rules! months {
    () => {
        "(SELECT month, month::timestamp AT TIME ZONE $3 AS lo, \
           (month + interval '1 month')::timestamp AT TIME ZONE $3 AS hi \
           FROM unnest($2::date[]) month OFFSET 0) m"
    };
}
/// Tickets opened in month `m`, as a lateral subquery's condition.
macro_rules! opened_in_month {
    () => {
        "company_id = $1 AND created_at >= m.lo AND created_at < m.hi"
    };
}
macro_rules! resolved_in_month {
    () => {
        "company_id = $1 AND resolved_at IS NOT NULL AND resolved_at >= m.lo AND resolved_at < m.hi"
    };
}
/// Rows of one period sort by priority, most urgent first.
macro_rules! priority_key {
    () => {
        "array_position(ARRAY['critical', 'high', 'medium', 'low'], t.priority)::text || ':' || t.priority"
    };
}

/// Minutes from opening to first public reply and to resolution, whole
/// minutes rounded down; median and 90th percentile by nearest rank
/// (`percentile_disc`).
const RESPONSE_TIMES_SQL: &str = concat!(
    "INSERT INTO report_rows (company_id, report, period, key, data) \
     SELECT $1, 'response_times', m.month, ",
    priority_key!(),
    ", jsonb_build_object('priority', t.priority, 'tickets', count(*), 'responded', count(t.fr), \
       'first_response_median_minutes', percentile_disc(0.5) WITHIN GROUP (ORDER BY t.fr), \
       'first_response_p90_minutes', percentile_disc(0.9) WITHIN GROUP (ORDER BY t.fr), \
       'resolved', count(t.rs), \
       'resolution_median_minutes', percentile_disc(0.5) WITHIN GROUP (ORDER BY t.rs), \
       'resolution_p90_minutes', percentile_disc(0.9) WITHIN GROUP (ORDER BY t.rs)) \
     FROM ",
    months!(),
    ", LATERAL (SELECT priority, \
                floor(extract(epoch FROM first_response_at - created_at) / 60)::bigint fr, \
                floor(extract(epoch FROM resolved_at - created_at) / 60)::bigint rs \
              FROM tickets WHERE ",
    opened_in_month!(),
    ") t GROUP BY m.month, t.priority"
);

/// Tickets under a policy (their priority has one), by the month opened:
/// each target met, breached (answered or resolved after the due time, or
/// still running past it at `$4`) or running.
const SLA_COMPLIANCE_SQL: &str = concat!(
    "INSERT INTO report_rows (company_id, report, period, key, data) \
     SELECT $1, 'sla_compliance', m.month, ",
    priority_key!(),
    ", jsonb_build_object('priority', t.priority, 'tickets', count(*), \
       'response_met', count(*) FILTER (WHERE t.first_response_at <= t.sla_response_due), \
       'response_breached', count(*) FILTER (WHERE COALESCE(t.first_response_at, $4) > t.sla_response_due), \
       'response_pending', count(*) FILTER (WHERE t.first_response_at IS NULL AND $4 <= t.sla_response_due), \
       'resolution_met', count(*) FILTER (WHERE t.resolved_at <= t.sla_resolution_due), \
       'resolution_breached', count(*) FILTER (WHERE COALESCE(t.resolved_at, $4) > t.sla_resolution_due), \
       'resolution_pending', count(*) FILTER (WHERE t.resolved_at IS NULL AND $4 <= t.sla_resolution_due), \
       'compliance_percent', round(100.0 * (count(*) FILTER (WHERE t.first_response_at <= t.sla_response_due) \
            + count(*) FILTER (WHERE t.resolved_at <= t.sla_resolution_due)) \
          / NULLIF(count(*) FILTER (WHERE t.first_response_at <= t.sla_response_due) \
            + count(*) FILTER (WHERE COALESCE(t.first_response_at, $4) > t.sla_response_due) \
            + count(*) FILTER (WHERE t.resolved_at <= t.sla_resolution_due) \
            + count(*) FILTER (WHERE COALESCE(t.resolved_at, $4) > t.sla_resolution_due), 0), 1)::text) \
     FROM ",
    months!(),
    ", LATERAL (SELECT priority, first_response_at, resolved_at, sla_response_due, sla_resolution_due \
              FROM tickets WHERE ",
    opened_in_month!(),
    " AND (sla_response_due IS NOT NULL OR sla_resolution_due IS NOT NULL)) t \
     GROUP BY m.month, t.priority"
);

/// Opened in the month, and resolved in the month, by `key`.
macro_rules! tickets_by {
    ($report:literal, $key:literal, $select:literal, $join:literal) => {
        concat!(
            "INSERT INTO report_rows (company_id, report, period, key, client_id, data) \
             SELECT $1, '",
            $report,
            "', k.month, k.key, ",
            $select,
            " FROM (SELECT m.month, t.key, sum(t.opened) opened, sum(t.resolved) resolved \
                    FROM ",
            months!(),
            ", LATERAL (SELECT ",
            $key,
            " AS key, 1 AS opened, 0 AS resolved FROM tickets WHERE ",
            opened_in_month!(),
            " UNION ALL SELECT ",
            $key,
            ", 0, 1 FROM tickets WHERE ",
            resolved_in_month!(),
            ") t GROUP BY m.month, t.key) k ",
            $join
        )
    };
}

const TICKETS_BY_CLIENT_SQL: &str = tickets_by!(
    "tickets_by_client",
    "COALESCE(client_id::text, 'none')",
    "c.id, jsonb_build_object('client_id', c.id, 'client_name', COALESCE(c.name, '(no client)'), \
     'opened', k.opened, 'resolved', k.resolved)",
    "LEFT JOIN clients c ON c.id::text = k.key"
);
const TICKETS_BY_SOURCE_SQL: &str = tickets_by!(
    "tickets_by_source",
    "source",
    "NULL::uuid, jsonb_build_object('source', k.key, 'opened', k.opened, 'resolved', k.resolved)",
    ""
);
const TICKETS_BY_TECHNICIAN_SQL: &str = tickets_by!(
    "tickets_by_technician",
    "COALESCE(assignee_id::text, 'unassigned')",
    "NULL::uuid, jsonb_build_object('technician_id', u.id, 'technician_name', COALESCE(u.name, '(unassigned)'), \
     'opened', k.opened, 'resolved', k.resolved)",
    "LEFT JOIN users u ON u.id::text = k.key"
);

/// A monthly service report computed by one INSERT over months `$2` in time
/// zone `$3`, at `$4`.
async fn monthly_service(
    tx: &mut TenantTx,
    ctx: &Ctx,
    r: ReportName,
    sql: &'static str,
    scope: Scope,
) -> DomainResult<usize> {
    let months: Vec<NaiveDate> = match &scope {
        Scope::Periods(p) => p.iter().copied().collect(),
        Scope::Full => {
            clear(tx, r, None).await?;
            match first_ticket_day(tx, ctx).await? {
                Some(local) => months_between(local.min(ctx.today), ctx.today),
                None => Vec::new(),
            }
        }
    };
    if matches!(scope, Scope::Periods(_)) {
        clear(tx, r, Some(&months)).await?;
    }
    if months.is_empty() {
        return Ok(0);
    }
    let q = sqlx::query(sql)
        .bind(ctx.tenant)
        .bind(&months)
        .bind(&ctx.tz);
    // Only SLA compliance reads the time (for targets still running).
    let q = if sql.contains("$4") {
        q.bind(ctx.now)
    } else {
        q
    };
    q.execute(tx.conn()).await?;
    Ok(months.len())
}

/// Assets not retired whose warranty expires in the month.
async fn warranties_expiring(tx: &mut TenantTx, ctx: &Ctx) -> DomainResult<usize> {
    clear(tx, ReportName::WarrantiesExpiring, None).await?;
    let n = sqlx::query(
        "INSERT INTO report_rows (company_id, report, period, key, data) \
         SELECT $1, 'warranties_expiring', date_trunc('month', warranty_expires::timestamp)::date, '', \
           jsonb_build_object('assets', count(*), 'clients', count(DISTINCT client_id)) \
         FROM assets WHERE company_id = $1 AND status <> 'retired' AND warranty_expires IS NOT NULL \
         GROUP BY 3",
    )
    .bind(ctx.tenant)
    .execute(tx.conn())
    .await?
    .rows_affected();
    Ok(n as usize)
}

/// Projects planned, active and on hold on the as-of date (a row for each
/// status, zero included), and those past their due date.
async fn projects_by_status(tx: &mut TenantTx, ctx: &Ctx) -> DomainResult<usize> {
    clear(tx, ReportName::ProjectsByStatus, None).await?;
    sqlx::query(
        "INSERT INTO report_rows (company_id, report, period, key, data) \
         SELECT $1, 'projects_by_status', $2, array_position(ARRAY['planned', 'active', 'on_hold'], s)::text || ':' || s, \
           jsonb_build_object('status', s, 'projects', count(p.id), \
             'overdue', count(p.id) FILTER (WHERE p.due_date < $2)) \
         FROM unnest(ARRAY['planned', 'active', 'on_hold']) s \
         LEFT JOIN projects p ON p.company_id = $1 AND p.status = s \
         GROUP BY s",
    )
    .bind(ctx.tenant)
    .bind(ctx.today)
    .execute(tx.conn())
    .await?;
    Ok(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn months_between_spans_years() {
        let m = months_between(d(2025, 11, 15), d(2026, 2, 1));
        assert_eq!(
            m,
            vec![d(2025, 11, 1), d(2025, 12, 1), d(2026, 1, 1), d(2026, 2, 1)]
        );
        assert!(months_between(d(2026, 3, 1), d(2026, 2, 1)).is_empty());
    }
}
