//! The monthly management report: one month's figures from the snapshots,
//! shaped for `templates/management.typ` (every value already formatted for
//! the company's locale; chart values as plain decimal strings).
//!
//! Amounts are in the company's currency; invoices in other currencies are
//! in the CSV reports and named in the report's notes.

use chrono::{Datelike, Duration, NaiveDate};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{ReportName, ReportQuery, month_of, read};
use crate::billing::billing_periods::add_months_clamped;
use crate::billing::locale::{self, Locale};
use crate::identity::company::{self, Logo};
use crate::{DomainResult, TenantTx, kernel::money};

/// What the job renders and mails.
#[derive(Debug, Clone)]
pub struct ManagementView {
    /// The first of the month reported on.
    pub month: NaiveDate,
    /// "November 2026".
    pub period_label: String,
    /// The template's data, as JSON.
    pub data: Vec<u8>,
    pub logo: Option<Logo>,
    /// SHA-256 (hex) of the data.
    pub digest: String,
    /// `management-report-2026-11.pdf`.
    pub file_name: String,
    /// The headline figures, as (label, value), for the mail's text.
    pub kpis: Vec<(String, String)>,
}

/// The month before the one `today` is in: what the report on the 1st is
/// about.
pub fn previous_month(today: NaiveDate) -> NaiveDate {
    add_months_clamped(month_of(today), -1).unwrap_or(month_of(today))
}

type Row = serde_json::Map<String, Value>;

fn text<'a>(r: &'a Row, key: &str) -> &'a str {
    r.get(key).and_then(Value::as_str).unwrap_or("")
}

fn dec(r: &Row, key: &str) -> Decimal {
    match r.get(key) {
        Some(Value::String(s)) => s.parse().unwrap_or_default(),
        Some(Value::Number(n)) => n.to_string().parse().unwrap_or_default(),
        _ => Decimal::ZERO,
    }
}

fn count(r: &Row, key: &str) -> i64 {
    r.get(key).and_then(Value::as_i64).unwrap_or(0)
}

/// Whole minutes as "45m", "3h 05m" or "2d 4h".
pub fn duration_label(minutes: Option<i64>) -> String {
    match minutes {
        None => "–".into(),
        Some(m) if m < 60 => format!("{m}m"),
        Some(m) if m < 24 * 60 => format!("{}h {:02}m", m / 60, m % 60),
        Some(m) => format!("{}d {}h", m / (24 * 60), (m % (24 * 60)) / 60),
    }
}

fn percent_label(met: i64, breached: i64) -> String {
    if met + breached == 0 {
        return "–".into();
    }
    let p = Decimal::from(met * 1000 / (met + breached)) / Decimal::from(10);
    format!("{p:.1}%")
}

fn month_label(m: NaiveDate) -> String {
    m.format("%B %Y").to_string()
}

fn short_month(m: NaiveDate) -> String {
    m.format("%b %y").to_string()
}

/// Reads a report's rows for `[from, to]`.
async fn rows(
    tx: &mut TenantTx,
    name: ReportName,
    from: NaiveDate,
    to: NaiveDate,
) -> DomainResult<Vec<Row>> {
    Ok(read(
        tx,
        name,
        &ReportQuery {
            from: Some(from),
            to: Some(to),
            client_id: None,
            page: None,
        },
    )
    .await?
    .rows)
}

/// The management report of `month` (any day of it), from the snapshots as
/// they are.
pub async fn view(tx: &mut TenantTx, month: NaiveDate) -> DomainResult<ManagementView> {
    let month = month_of(month);
    let company = company::get(tx).await?;
    let logo = company::logo(tx).await?;
    let loc = Locale::parse(&company.locale);
    let currency = company.currency.clone();
    let minor = money::minor_units(&currency).unwrap_or(2);
    let fmt = |x: Decimal| locale::format_money(money::to_minor(x, minor), &currency, loc);
    let plain = |x: Decimal| money::to_minor(x, minor).to_string();
    let month_end = add_months_clamped(month, 1)
        .map(|n| n - Duration::days(1))
        .unwrap_or(month);
    let first = add_months_clamped(month, -11).unwrap_or(month);
    let today = company.today(tx.now());

    let finance = rows(tx, ReportName::FinanceSummary, first, month).await?;
    let other_currencies: std::collections::BTreeSet<String> = finance
        .iter()
        .map(|r| text(r, "currency").to_owned())
        .filter(|c| *c != currency)
        .collect();
    let finance: Vec<Row> = finance
        .into_iter()
        .filter(|r| text(r, "currency") == currency)
        .collect();
    let this_month = |rs: &[Row]| {
        rs.iter()
            .find(|r| text(r, "period") == month.to_string())
            .cloned()
    };
    let prev_month = add_months_clamped(month, -1).unwrap_or(month);
    let prev = |rs: &[Row]| {
        rs.iter()
            .find(|r| text(r, "period") == prev_month.to_string())
            .cloned()
    };
    let fin_now = this_month(&finance).unwrap_or_default();
    let fin_prev = prev(&finance).unwrap_or_default();
    let mrr = rows(tx, ReportName::Mrr, first, month).await?;
    let mrr: Vec<Row> = mrr
        .into_iter()
        .filter(|r| text(r, "currency") == currency)
        .collect();
    let mrr_now = this_month(&mrr).unwrap_or_default();
    let mrr_prev = prev(&mrr).unwrap_or_default();

    let ageing_rows = read(tx, ReportName::ArAgeing, &ReportQuery::default())
        .await?
        .rows;
    let buckets = [
        ("Current", "current"),
        ("1–30 days", "days_1_30"),
        ("31–60 days", "days_31_60"),
        ("61–90 days", "days_61_90"),
        ("Over 90 days", "days_over_90"),
    ];
    let ageing: Vec<Value> = buckets
        .iter()
        .map(|(label, key)| {
            let sum: Decimal = ageing_rows
                .iter()
                .filter(|r| text(r, "currency") == currency)
                .map(|r| dec(r, key))
                .sum();
            json!({"bucket": label, "amount": plain(sum), "label": fmt(sum)})
        })
        .collect();
    let overdue: Decimal = ageing_rows
        .iter()
        .filter(|r| text(r, "currency") == currency)
        .map(|r| dec(r, "total") - dec(r, "current"))
        .sum();

    let week_from =
        month_end - Duration::days(i64::from(month_end.weekday().num_days_from_monday()) + 7 * 12);
    let weeks = rows(tx, ReportName::TicketVolumeWeekly, week_from, month_end).await?;
    let days = rows(tx, ReportName::TicketVolumeDaily, month, month_end).await?;
    let resolved: i64 = days.iter().map(|r| count(r, "resolved")).sum();
    let opened: i64 = days.iter().map(|r| count(r, "opened")).sum();
    let times = rows(tx, ReportName::ResponseTimes, month, month).await?;
    let sla = rows(tx, ReportName::SlaCompliance, month, month).await?;
    let mut top = rows(tx, ReportName::RevenueByClient, month, month).await?;
    top.retain(|r| text(r, "currency") == currency);
    top.sort_by_key(|r| std::cmp::Reverse(dec(r, "revenue")));
    top.truncate(5);

    let median_response = {
        // The median over priorities is not the median of all tickets; the
        // headline shows the most common priority's.
        times
            .iter()
            .max_by_key(|r| count(r, "responded"))
            .and_then(|r| r.get("first_response_median_minutes"))
            .and_then(Value::as_i64)
    };
    let (met, breached) = sla.iter().fold((0, 0), |(m, b), r| {
        (
            m + count(r, "response_met") + count(r, "resolution_met"),
            b + count(r, "response_breached") + count(r, "resolution_breached"),
        )
    });
    let change = |now: Decimal, before: Decimal| -> Option<String> {
        if before.is_zero() {
            return None;
        }
        let p = ((now - before) * Decimal::from(100) / before).round_dp(1);
        Some(format!(
            "{}{p}% on {}",
            if p >= Decimal::ZERO { "+" } else { "" },
            prev_month.format("%B")
        ))
    };
    let invoiced = dec(&fin_now, "invoiced");
    let collected = dec(&fin_now, "collected");
    let outstanding = dec(&fin_now, "outstanding");
    let mrr_value = dec(&mrr_now, "mrr");
    let kpis = vec![
        (
            "Invoiced",
            fmt(invoiced),
            change(invoiced, dec(&fin_prev, "invoiced")),
        ),
        (
            "Collected",
            fmt(collected),
            change(collected, dec(&fin_prev, "collected")),
        ),
        (
            "Outstanding",
            fmt(outstanding),
            Some(format!("{} overdue today", fmt(overdue))),
        ),
        (
            "MRR",
            fmt(mrr_value),
            change(mrr_value, dec(&mrr_prev, "mrr")),
        ),
        (
            "Tickets resolved",
            resolved.to_string(),
            Some(format!(
                "{opened} opened; median first response {}",
                duration_label(median_response)
            )),
        ),
        (
            "SLA compliance",
            percent_label(met, breached),
            Some(format!("{breached} targets breached")),
        ),
    ];

    let mut notes = vec![format!(
        "Amounts in {currency}, excluding tax where they are revenue. Receivables ageing is as of {}.",
        locale::format_date(today, loc)
    )];
    if !other_currencies.is_empty() {
        notes.push(format!(
            "Invoices in {} are not included; the CSV reports list them.",
            other_currencies.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    notes.push(
        "Percentiles are by nearest rank; response and resolution times are wall-clock.".into(),
    );

    let number = format!("MR-{}", month.format("%Y-%m"));
    let period_label = month_label(month);
    let mut data = crate::billing::documents::base_json(&company, logo.as_ref());
    data["document"] = json!({
        "title": "Management report",
        "number": number,
        "period": period_label,
        "issue_date": locale::format_date(today, loc),
        "issue_date_iso": today.to_string(),
        "currency": currency,
    });
    data["kpis"] = kpis
        .iter()
        .map(|(l, v, n)| json!({"label": l, "value": v, "note": n}))
        .collect();
    data["finance_months"] = finance
        .iter()
        .map(|r| {
            let p: NaiveDate = text(r, "period").parse().unwrap_or(month);
            json!({"month": short_month(p), "invoiced": plain(dec(r, "invoiced")),
                   "collected": plain(dec(r, "collected")), "outstanding": plain(dec(r, "outstanding"))})
        })
        .collect();
    data["mrr_months"] = mrr
        .iter()
        .map(|r| {
            let p: NaiveDate = text(r, "period").parse().unwrap_or(month);
            json!({"month": short_month(p), "mrr": plain(dec(r, "mrr"))})
        })
        .collect();
    data["ageing"] = Value::Array(ageing);
    data["ticket_weeks"] = weeks
        .iter()
        .map(|r| {
            let p: NaiveDate = text(r, "period").parse().unwrap_or(month);
            json!({"week": format!("W{}", p.iso_week().week()),
                   "opened": count(r, "opened").to_string(), "resolved": count(r, "resolved").to_string()})
        })
        .collect();
    data["response_times"] = times
        .iter()
        .map(|r| {
            let m = |k: &str| duration_label(r.get(k).and_then(Value::as_i64));
            json!({"priority": capitalised(text(r, "priority")), "tickets": count(r, "tickets").to_string(),
                   "first_response_median": m("first_response_median_minutes"),
                   "first_response_p90": m("first_response_p90_minutes"),
                   "resolution_median": m("resolution_median_minutes"),
                   "resolution_p90": m("resolution_p90_minutes")})
        })
        .collect();
    data["sla"] = sla
        .iter()
        .map(|r| {
            let met = count(r, "response_met") + count(r, "resolution_met");
            let breached = count(r, "response_breached") + count(r, "resolution_breached");
            json!({"priority": capitalised(text(r, "priority")), "met": met.to_string(),
                   "breached": breached.to_string(), "compliance": percent_label(met, breached)})
        })
        .collect();
    data["top_clients"] = top
        .iter()
        .map(|r| json!({"client": text(r, "client_name"), "revenue": fmt(dec(r, "revenue"))}))
        .collect();
    data["notes"] = json!(notes);

    let bytes = serde_json::to_vec(&data)
        .map_err(|e| crate::DomainError::Internal(format!("report data: {e}")))?;
    let digest = hex::encode(Sha256::digest(&bytes));
    Ok(ManagementView {
        month,
        file_name: format!("management-report-{}.pdf", month.format("%Y-%m")),
        period_label,
        data: bytes,
        logo,
        digest,
        kpis: kpis
            .into_iter()
            .map(|(l, v, _)| (l.to_owned(), v))
            .collect(),
    })
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f
            .to_uppercase()
            .chain(c)
            .collect::<String>()
            .replace('_', " "),
        None => String::new(),
    }
}

/// A rendered management report, as the API lists it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct StoredReport {
    /// The first of the month reported on.
    #[serde(deserialize_with = "crate::kernel::dates::de")]
    pub month: NaiveDate,
    /// `management-report-2026-11.pdf`.
    pub file_name: String,
    pub bytes: i64,
    pub rendered_at: chrono::DateTime<chrono::Utc>,
}

/// Notes the PDF of `month`'s report at `key` (replacing an earlier render
/// of the month): idempotent.
pub async fn record(
    tx: &mut TenantTx,
    month: NaiveDate,
    key: &str,
    file_name: &str,
    bytes: i64,
    digest: &str,
) -> DomainResult<()> {
    let tenant = tx.tenant();
    let now = tx.now();
    sqlx::query(
        "INSERT INTO management_reports (company_id, month, file_key, file_name, bytes, digest, rendered_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (company_id, month) DO UPDATE SET file_key = EXCLUDED.file_key, \
         file_name = EXCLUDED.file_name, bytes = EXCLUDED.bytes, digest = EXCLUDED.digest, \
         rendered_at = EXCLUDED.rendered_at \
         WHERE management_reports.digest <> EXCLUDED.digest",
    )
    .bind(tenant)
    .bind(month_of(month))
    .bind(key)
    .bind(file_name)
    .bind(bytes)
    .bind(digest)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// The company's rendered reports, newest month first (at most 120).
pub async fn stored(tx: &mut TenantTx) -> DomainResult<Vec<StoredReport>> {
    let tenant = tx.tenant();
    let rows: Vec<(NaiveDate, String, i64, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
        "SELECT month, file_name, bytes, rendered_at FROM management_reports \
         WHERE company_id = $1 ORDER BY month DESC LIMIT 120",
    )
    .bind(tenant)
    .fetch_all(tx.conn())
    .await?;
    Ok(rows
        .into_iter()
        .map(|(month, file_name, bytes, rendered_at)| StoredReport {
            month,
            file_name,
            bytes,
            rendered_at,
        })
        .collect())
}

/// The object-store key and file name of `month`'s report (any day of
/// it), or not found.
pub async fn file_of(tx: &mut TenantTx, month: NaiveDate) -> DomainResult<(String, String)> {
    let tenant = tx.tenant();
    let row: Option<(String, String)> = sqlx::query_as(
        "SELECT file_key, file_name FROM management_reports WHERE company_id = $1 AND month = $2",
    )
    .bind(tenant)
    .bind(month_of(month))
    .fetch_optional(tx.conn())
    .await?;
    row.ok_or_else(|| crate::DomainError::not_found("management report"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_percentages() {
        assert_eq!(duration_label(Some(45)), "45m");
        assert_eq!(duration_label(Some(185)), "3h 05m");
        assert_eq!(duration_label(Some(3 * 1440 + 250)), "3d 4h");
        assert_eq!(duration_label(None), "–");
        assert_eq!(percent_label(5, 1), "83.3%");
        assert_eq!(percent_label(0, 0), "–");
        assert_eq!(
            previous_month(NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()),
            NaiveDate::from_ymd_opt(2025, 12, 1).unwrap()
        );
    }
}
