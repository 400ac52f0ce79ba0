//! Monthly recurring revenue from the recurring templates.
//!
//! The rules, written once:
//! - A template counts in a month when it is active on the month's last day
//!   (today, for this month): it has started, the period covering that day
//!   is within its end date and its maximum cycles, and it was not paused by
//!   then. (A pause is known while it lasts: a resumed template counts as if
//!   it never paused.)
//! - It counts with that period's net before tax, priced as billing prices
//!   it (escalation included, never pro rata), made monthly: months ÷ N,
//!   years ÷ 12N, weeks × 52 ÷ 12N, days × 365 ÷ 12N, rounded to the
//!   currency's digits by the money rule. ARR is 12 × MRR.
//! - Movements compare each client's MRR (in a currency) with the month
//!   before: new (from nothing), expansion (up), contraction (down, not to
//!   nothing), churn (to nothing). So MRR = last month's + new + expansion −
//!   contraction − churn.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rust_decimal::Decimal;

use super::aggregate::months_between;
use super::month_of;
use crate::billing::billing_periods::{self, Frequency};
use crate::billing::invoices::PriceCache;
use crate::billing::recurring::{self, Template};
use crate::{ClientId, DomainResult, TenantTx, kernel::money};

/// MRR by (currency, client).
type ByClient = BTreeMap<(String, ClientId), Decimal>;

/// A period's net made monthly (before rounding).
pub(crate) fn monthly(net: Decimal, f: Frequency) -> Decimal {
    let twelve = Decimal::from(12);
    match f {
        Frequency::Months(n) => net / Decimal::from(n),
        Frequency::Years(n) => net / (twelve * Decimal::from(n)),
        Frequency::Weeks(n) => net * Decimal::from(52) / (twelve * Decimal::from(n)),
        Frequency::Days(n) => net * Decimal::from(365) / (twelve * Decimal::from(n)),
    }
}

/// The cycle of the period covering `day`, if the template is active then;
/// `from` is a cycle known to start on or before `day` (to walk from).
fn active_cycle(
    t: &Template,
    paused_on: Option<NaiveDate>,
    day: NaiveDate,
    from: u32,
) -> Option<u32> {
    if t.start_date > day || paused_on.is_some_and(|p| p <= day) {
        return None;
    }
    let mut k = from;
    while recurring::period_start_of(t, k + 1).is_some_and(|s| s <= day) {
        k += 1;
    }
    if t.max_cycles.is_some_and(|m| i64::from(k) >= i64::from(m)) {
        return None;
    }
    let start = recurring::period_start_of(t, k)?;
    if t.end_date.is_some_and(|end| start > end) {
        return None;
    }
    Some(k)
}

/// The month's last day, or `today` in this month.
fn evaluation_day(month: NaiveDate, today: NaiveDate) -> NaiveDate {
    if month == month_of(today) {
        return today;
    }
    billing_periods::add_months_clamped(month, 1)
        .map(|n| n - Duration::days(1))
        .unwrap_or(month)
}

/// Each month's MRR by (client, currency), from the first template's start
/// to this month.
async fn by_client(
    tx: &mut TenantTx,
    today: NaiveDate,
    from: Option<NaiveDate>,
) -> DomainResult<Vec<(NaiveDate, ByClient)>> {
    let company = crate::identity::company::get(tx).await?;
    let tz = company.zone();
    let templates = recurring::all_with_pauses(tx).await?;
    let Some(first) = templates.iter().map(|(t, _)| t.start_date).min() else {
        return Ok(Vec::new());
    };
    let first = from.map_or(first, |f| f.max(first));
    let months = months_between(first.min(today), today);
    let mut out: Vec<(NaiveDate, ByClient)> =
        months.iter().map(|m| (*m, BTreeMap::new())).collect();
    let mut cache = PriceCache::default();
    for (t, paused_at) in &templates {
        let minor = money::minor_units(&t.currency).unwrap_or(2);
        let paused_on = paused_at.map(|p| p.with_timezone(&tz).date_naive());
        // Without escalation every period bills the same.
        let mut nets: HashMap<u32, Decimal> = HashMap::new();
        let mut walk = 0u32;
        for (month, clients) in out.iter_mut() {
            let day = evaluation_day(*month, today);
            let Some(cycle) = active_cycle(t, paused_on, day, walk) else {
                continue;
            };
            walk = cycle;
            let key = if t.escalation.is_some() { cycle } else { 0 };
            let net = match nets.get(&key) {
                Some(n) => *n,
                None => {
                    let n = recurring::cycle_net(tx, t, cycle, &company, &mut cache).await?;
                    nets.insert(key, n);
                    n
                }
            };
            let value = money::round_money(monthly(net, t.frequency), minor);
            if value > Decimal::ZERO {
                *clients
                    .entry((t.currency.clone(), t.client_id))
                    .or_default() += value;
            }
        }
    }
    Ok(out)
}

/// One month's figures in one currency.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Movement {
    pub mrr: Decimal,
    pub new: Decimal,
    pub expansion: Decimal,
    pub contraction: Decimal,
    pub churn: Decimal,
    pub customers: i64,
}

/// Compares each client's MRR with the month before.
pub(crate) fn movements(prev: &ByClient, cur: &ByClient) -> BTreeMap<String, Movement> {
    let mut out: BTreeMap<String, Movement> = BTreeMap::new();
    let keys: BTreeSet<&(String, ClientId)> = prev.keys().chain(cur.keys()).collect();
    for k in keys {
        let before = prev.get(k).copied().unwrap_or_default();
        let now = cur.get(k).copied().unwrap_or_default();
        let m = out.entry(k.0.clone()).or_default();
        m.mrr += now;
        if now > Decimal::ZERO {
            m.customers += 1;
        }
        if before.is_zero() && now > Decimal::ZERO {
            m.new += now;
        } else if now.is_zero() && before > Decimal::ZERO {
            m.churn += before;
        } else if now > before {
            m.expansion += now - before;
        } else if now < before {
            m.contraction += before - now;
        }
    }
    out
}

/// Whether any template (or a product their lines may price from) changed
/// since `since`.
async fn templates_changed_since(tx: &mut TenantTx, since: DateTime<Utc>) -> DomainResult<bool> {
    let tenant = tx.tenant();
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM recurring_invoices WHERE company_id = $1 AND updated_at > $2) \
         OR EXISTS (SELECT 1 FROM products WHERE company_id = $1 AND updated_at > $2)",
    )
    .bind(tenant)
    .bind(since)
    .fetch_one(tx.conn())
    .await?)
}

/// Recomputes the MRR report: whole, or, when `last` (the previous
/// snapshot's time and as-of day) is given and no template or product
/// changed since, only from the month of that as-of day on (earlier months
/// were evaluated on their last day already and cannot change). Returns
/// the months written.
pub(super) async fn compute(
    tx: &mut TenantTx,
    today: NaiveDate,
    last: Option<(DateTime<Utc>, NaiveDate)>,
) -> DomainResult<usize> {
    let tenant = tx.tenant();
    let write_from = match last {
        Some((at, as_of)) if !templates_changed_since(tx, at).await? => Some(month_of(as_of)),
        _ => None,
    };
    // The month before the first written gives its movements.
    let base = write_from.and_then(|m| billing_periods::add_months_clamped(m, -1));
    sqlx::query(
        "DELETE FROM report_rows WHERE company_id = $1 AND report = 'mrr' AND ($2::date IS NULL OR period >= $2)",
    )
    .bind(tenant)
    .bind(write_from)
    .execute(tx.conn())
    .await?;
    let months = by_client(tx, today, base).await?;
    let empty = BTreeMap::new();
    let (mut periods, mut keys, mut data) = (Vec::new(), Vec::new(), Vec::new());
    for (i, (month, cur)) in months.iter().enumerate() {
        if write_from.is_some_and(|w| *month < w) {
            continue;
        }
        let prev = if i == 0 { &empty } else { &months[i - 1].1 };
        for (currency, m) in movements(prev, cur) {
            let minor = money::minor_units(&currency).unwrap_or(2);
            let r = |d: Decimal| money::to_minor(d, minor).to_string();
            periods.push(*month);
            keys.push(currency.clone());
            data.push(serde_json::json!({
                "currency": currency,
                "mrr": r(m.mrr),
                "arr": r(m.mrr * Decimal::from(12)),
                "new": r(m.new),
                "expansion": r(m.expansion),
                "contraction": r(m.contraction),
                "churn": r(m.churn),
                "customers": m.customers,
            }));
        }
    }
    sqlx::query(
        "INSERT INTO report_rows (company_id, report, period, key, data) \
         SELECT $1, 'mrr', p, k, d FROM unnest($2::date[], $3::text[], $4::jsonb[]) AS x(p, k, d)",
    )
    .bind(tenant)
    .bind(&periods)
    .bind(&keys)
    .bind(&data)
    .execute(tx.conn())
    .await?;
    Ok(months
        .iter()
        .filter(|(m, _)| write_from.is_none_or(|w| *m >= w))
        .count())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn monthly_values() {
        assert_eq!(monthly(dec!(300), Frequency::Months(3)), dec!(100));
        assert_eq!(monthly(dec!(1200), Frequency::Years(1)), dec!(100));
        assert_eq!(
            money::round_money(monthly(dec!(100), Frequency::Weeks(1)), 2),
            dec!(433.33)
        );
        assert_eq!(
            money::round_money(monthly(dec!(10), Frequency::Days(1)), 2),
            dec!(304.17)
        );
    }

    #[test]
    fn movements_add_up() {
        let a = ClientId::new();
        let b = ClientId::new();
        let c = ClientId::new();
        let d = ClientId::new();
        let usd = |id: ClientId, v: Decimal| (("USD".to_string(), id), v);
        let prev: BTreeMap<_, _> = [usd(a, dec!(100)), usd(b, dec!(50)), usd(c, dec!(30))].into();
        let cur: BTreeMap<_, _> = [usd(a, dec!(120)), usd(b, dec!(40)), usd(d, dec!(10))].into();
        let m = &movements(&prev, &cur)["USD"];
        assert_eq!(m.mrr, dec!(170));
        assert_eq!(m.new, dec!(10));
        assert_eq!(m.expansion, dec!(20));
        assert_eq!(m.contraction, dec!(10));
        assert_eq!(m.churn, dec!(30));
        assert_eq!(m.customers, 3);
        assert_eq!(
            dec!(180) + m.new + m.expansion - m.contraction - m.churn,
            m.mrr
        );
    }
}
