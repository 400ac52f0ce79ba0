//! Schedules: cron expressions in an IANA time zone, global or per tenant,
//! and the pure rule that turns one into fire instants, DST included.

use std::str::FromStr;

use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::kernel::pagination::{Cursor, Page, PageRequest};
use crate::kernel::validation::ValidationErrors;
use crate::{DomainError, DomainResult, JobId, ScheduleId, SystemTx, TenantId, TenantTx};

/// A parsed cron expression: five fields (minute hour day month weekday),
/// or six/seven with seconds (and years) first.
///
/// Five fields are standard cron: weekday numbers run 0 to 7 with Sunday 0
/// or 7 and Monday 1 (`0 8 * * 1` is Mondays at 08:00). The cron crate
/// underneath numbers weekdays from Sunday = 1, so a five-field
/// expression's numbered weekdays are written as names first
/// ([`standard_weekdays`]). Six and seven fields are the crate's own
/// (Quartz-like) form, passed as they are.
#[derive(Debug, Clone)]
pub struct CronSpec(cron::Schedule);

const WEEKDAY_NAMES: [&str; 8] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// A standard weekday field with its numbers written as names (`1-5` is
/// `Mon,Tue,Wed,Thu,Fri`, `5-7` is `Fri,Sat,Sun`, `1-5/2` is
/// `Mon,Wed,Fri`); `*`, `*/n`, names and anything unreadable are left for
/// the cron parser (which refuses what does not read).
fn standard_weekdays(field: &str) -> String {
    let items: Vec<String> = field
        .split(',')
        .map(|item| {
            let (range, step) = match item.split_once('/') {
                Some((r, s)) => (r, Some(s)),
                None => (item, None),
            };
            // `a-b`; a single number alone is itself, with a step it runs
            // to the end of the week (`1/2` is 1, 3, 5, 7).
            let bounds = match (range.split_once('-'), step) {
                (Some((a, b)), _) => (a.parse::<usize>(), b.parse::<usize>()),
                (None, Some(_)) => (range.parse::<usize>(), Ok(7)),
                (None, None) => (range.parse::<usize>(), range.parse::<usize>()),
            };
            let step = match step.map(str::parse::<usize>) {
                None => Some(1),
                Some(Ok(n)) if n > 0 => Some(n),
                Some(_) => None,
            };
            match (bounds, step) {
                ((Ok(a), Ok(b)), Some(step)) if a <= b && b <= 7 => (a..=b)
                    .step_by(step)
                    .filter_map(|d| WEEKDAY_NAMES.get(d).copied())
                    .collect::<Vec<_>>()
                    .join(","),
                _ => item.to_owned(),
            }
        })
        .collect();
    // `7` and `0` both name Sunday: say it once.
    let joined = items.join(",");
    let mut seen = Vec::new();
    for part in joined.split(',') {
        if !seen.contains(&part) {
            seen.push(part);
        }
    }
    seen.join(",")
}

impl CronSpec {
    pub fn parse(expr: &str) -> Result<CronSpec, String> {
        let expr = expr.trim();
        let fields: Vec<&str> = expr.split_whitespace().collect();
        let full = match fields.as_slice() {
            [minute, hour, day, month, weekday] => format!(
                "0 {minute} {hour} {day} {month} {}",
                standard_weekdays(weekday)
            ),
            f if f.len() == 6 || f.len() == 7 => expr.to_owned(),
            _ => {
                return Err(
                    "a cron expression has 5 fields (minute hour day month weekday)".into(),
                );
            }
        };
        cron::Schedule::from_str(&full)
            .map(CronSpec)
            .map_err(|e| e.to_string())
    }

    /// Fire instants in `(after, until]`, at most `limit`, in order.
    ///
    /// Wall-clock times are read in `tz`. A time that happens twice (the
    /// autumn change) fires once, at its first occurrence; a time that does
    /// not exist (the spring change) fires at the moment the clock jumps.
    pub fn fires_between(
        &self,
        tz: Tz,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Vec<DateTime<Utc>> {
        let mut out: Vec<DateTime<Utc>> = Vec::new();
        if until <= after || limit == 0 {
            return out;
        }
        // Walk wall-clock times from a little before `after`, since a DST
        // change can move a wall time before or after an instant.
        let start = after.with_timezone(&tz).naive_local() - Duration::hours(3);
        let walk_from = Utc.from_utc_datetime(&start);
        for (steps, wall) in self.0.after(&walk_from).enumerate() {
            if steps > 1_000_000 {
                break;
            }
            let Some(at) = instant_of(tz, wall.naive_utc()) else {
                continue;
            };
            if at > until {
                // Wall times are ordered and map to ordered instants, except
                // right around a change: look a few hours further.
                if at - until > Duration::hours(3) {
                    break;
                }
                continue;
            }
            if at > after && out.last().is_none_or(|last| at > *last) {
                out.push(at);
                if out.len() >= limit {
                    break;
                }
            }
        }
        out
    }

    /// The first fire after `after`, looking at most a few years ahead.
    pub fn next_after(&self, tz: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.fires_between(tz, after, after + Duration::days(366 * 5), 1)
            .first()
            .copied()
    }
}

/// The instant a wall-clock time in `tz` names; see [`CronSpec::fires_between`].
fn instant_of(tz: Tz, wall: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&wall) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
        LocalResult::None => (1..=24 * 60)
            .map(|m| wall + Duration::minutes(m))
            .find_map(|w| tz.from_local_datetime(&w).earliest())
            .map(|t| {
                // The first valid wall minute after the gap is the change
                // itself; its instant is when the clock jumped.
                let t = t.with_timezone(&Utc);
                t - Duration::seconds(t.timestamp() % 60)
            }),
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct Schedule {
    pub id: ScheduleId,
    pub name: String,
    /// The job kind it enqueues.
    pub kind: String,
    pub cron: String,
    pub time_zone: String,
    /// Whether `time_zone` is the company's and moves with it. True for the
    /// default schedules and for any created without a time zone; false
    /// once an admin sets a time zone of its own.
    pub follows_company_time_zone: bool,
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    pub enabled: bool,
    /// The latest fire handled.
    pub fired_through: DateTime<Utc>,
    pub next_fire_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, name, kind, cron, time_zone, follows_company_time_zone, payload, \
                       enabled, fired_through, next_fire_at, created_at, updated_at";

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSchedule {
    pub name: String,
    pub kind: String,
    /// Five-field cron (`*/5 * * * *`), or six/seven fields with seconds first.
    pub cron: String,
    /// IANA time zone of its own; without one the schedule follows the
    /// company's, also when the company's changes.
    pub time_zone: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub payload: Option<serde_json::Value>,
    pub enabled: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SchedulePatch {
    pub name: Option<String>,
    pub cron: Option<String>,
    /// A time zone of its own: the schedule stops following the company's.
    pub time_zone: Option<String>,
    /// `true`: back to the company's time zone, following it from now on
    /// (not together with `time_zone`).
    pub follow_company_time_zone: Option<bool>,
    #[schema(value_type = Option<Object>)]
    pub payload: Option<serde_json::Value>,
    pub enabled: Option<bool>,
}

fn name_taken() -> DomainError {
    DomainError::conflict("schedule_name_taken", "a schedule with this name exists")
}

fn validate_parts(
    v: &mut ValidationErrors,
    cron_expr: &str,
    tz: &str,
    payload: &serde_json::Value,
) -> Option<(CronSpec, Tz)> {
    let spec = match CronSpec::parse(cron_expr) {
        Ok(s) => Some(s),
        Err(e) => {
            v.add("cron", "invalid", format!("cron is invalid: {e}"));
            None
        }
    };
    let zone = match tz.parse::<Tz>() {
        Ok(z) => Some(z),
        Err(_) => {
            v.add(
                "time_zone",
                "invalid",
                "time_zone must be an IANA time zone such as Europe/Berlin",
            );
            None
        }
    };
    if !payload.is_object() {
        v.add("payload", "invalid", "payload must be a JSON object");
    }
    spec.zip(zone)
}

/// Creates a tenant schedule. `company_time_zone` is the zone a schedule
/// without one follows; `known_kind` says whether a kind may be scheduled.
pub async fn create(
    tx: &mut TenantTx,
    new: NewSchedule,
    company_time_zone: &str,
    known_kind: impl Fn(&str) -> bool,
) -> DomainResult<Schedule> {
    let mut v = ValidationErrors::new();
    let name = v.required_text("name", &new.name, 100);
    if !known_kind(&new.kind) {
        v.add(
            "kind",
            "unknown",
            format!("{:?} is not a job kind that can be scheduled", new.kind),
        );
    }
    let follows = new.time_zone.is_none();
    let tz = new
        .time_zone
        .unwrap_or_else(|| company_time_zone.to_owned());
    let payload = new.payload.unwrap_or_else(|| serde_json::json!({}));
    let parts = validate_parts(&mut v, &new.cron, &tz, &payload);
    v.finish()?;
    let (spec, zone) =
        parts.ok_or_else(|| DomainError::Internal("validated parts missing".into()))?;
    let (tenant, now) = (tx.tenant(), tx.now());
    let enabled = new.enabled.unwrap_or(true);
    let next = enabled.then(|| spec.next_after(zone, now)).flatten();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO schedules (id, company_id, name, kind, cron, time_zone, payload, enabled, \
         fired_through, next_fire_at, created_at, updated_at, follows_company_time_zone) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $9, $9, $11) RETURNING {COLUMNS}"
    )))
    .bind(ScheduleId::new())
    .bind(tenant)
    .bind(name)
    .bind(new.kind)
    .bind(new.cron.trim())
    .bind(tz)
    .bind(payload)
    .bind(enabled)
    .bind(now)
    .bind(next)
    .bind(follows)
    .fetch_one(tx.conn())
    .await
    .map_err(map_name_clash)
}

fn map_name_clash(e: sqlx::Error) -> DomainError {
    match &e {
        sqlx::Error::Database(db) if db.constraint() == Some("schedules_company_name_key") => {
            name_taken()
        }
        _ => DomainError::Database(e),
    }
}

pub async fn get(tx: &mut TenantTx, id: ScheduleId) -> DomainResult<Schedule> {
    let tenant = tx.tenant();
    let row: Option<Schedule> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM schedules WHERE company_id = $1 AND id = $2"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    row.ok_or(DomainError::not_found("schedule"))
}

pub async fn list(tx: &mut TenantTx, page: &PageRequest) -> DomainResult<Page<Schedule>> {
    let tenant = tx.tenant();
    let rows: Vec<Schedule> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM schedules WHERE company_id = $1 \
         AND ($2::text IS NULL OR (lower(name), id) > ($2, $3)) ORDER BY lower(name), id LIMIT $4"
    )))
    .bind(tenant)
    .bind(page.after_key())
    .bind(page.after_id())
    .bind(page.fetch())
    .fetch_all(tx.conn())
    .await?;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM schedules WHERE company_id = $1")
        .bind(tenant)
        .fetch_one(tx.conn())
        .await?;
    Ok(Page::from_rows(rows, page, total, |s| Cursor {
        key: s.name.to_lowercase(),
        id: s.id.as_uuid(),
    }))
}

/// Applies `patch`. A changed cron, zone or re-enabling fires from now on:
/// ticks missed while a schedule was disabled are not caught up.
/// `company_time_zone` is the zone a schedule made to follow the company takes.
pub async fn update(
    tx: &mut TenantTx,
    id: ScheduleId,
    patch: SchedulePatch,
    company_time_zone: &str,
) -> DomainResult<Schedule> {
    let current = get(tx, id).await?;
    let mut v = ValidationErrors::new();
    let (time_zone, follows) = match (&patch.time_zone, patch.follow_company_time_zone) {
        (Some(_), Some(true)) => {
            v.add(
                "follow_company_time_zone",
                "conflict",
                "give either time_zone or follow_company_time_zone: true, not both",
            );
            (None, current.follows_company_time_zone)
        }
        (Some(tz), _) => (Some(tz.clone()), false),
        (None, Some(true)) => (Some(company_time_zone.to_owned()), true),
        (None, Some(false)) => (None, false),
        (None, None) => (None, current.follows_company_time_zone),
    };
    let name = match &patch.name {
        Some(n) => v.required_text("name", n, 100),
        None => current.name.clone(),
    };
    let retime = Retime {
        cron: patch.cron.clone(),
        time_zone,
        payload: patch.payload.clone(),
        enabled: patch.enabled,
    };
    apply(tx, current, name, retime, follows, v).await
}

/// What an update may change about when and what a schedule fires.
struct Retime {
    cron: Option<String>,
    time_zone: Option<String>,
    payload: Option<serde_json::Value>,
    enabled: Option<bool>,
}

async fn apply(
    tx: &mut TenantTx,
    current: Schedule,
    name: String,
    patch: Retime,
    follows: bool,
    mut v: ValidationErrors,
) -> DomainResult<Schedule> {
    let cron_expr = patch.cron.clone().unwrap_or(current.cron.clone());
    let tz = patch.time_zone.clone().unwrap_or(current.time_zone.clone());
    let payload = patch.payload.clone().unwrap_or(current.payload.clone());
    let parts = validate_parts(&mut v, &cron_expr, &tz, &payload);
    v.finish()?;
    let (spec, zone) =
        parts.ok_or_else(|| DomainError::Internal("validated parts missing".into()))?;
    let enabled = patch.enabled.unwrap_or(current.enabled);
    let now = tx.now();
    let timing_changed =
        patch.cron.is_some() || tz != current.time_zone || (enabled && !current.enabled);
    let fired_through = if timing_changed {
        now.max(current.fired_through)
    } else {
        current.fired_through
    };
    let next = enabled
        .then(|| spec.next_after(zone, fired_through))
        .flatten();
    let tenant = tx.tenant();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE schedules SET name = $3, cron = $4, time_zone = $5, payload = $6, enabled = $7, \
         fired_through = $8, next_fire_at = $9, updated_at = $10, follows_company_time_zone = $11 \
         WHERE company_id = $1 AND id = $2 RETURNING {COLUMNS}"
    )))
    .bind(tenant)
    .bind(current.id)
    .bind(name)
    .bind(cron_expr.trim())
    .bind(tz)
    .bind(payload)
    .bind(enabled)
    .bind(fired_through)
    .bind(next)
    .bind(now)
    .bind(follows)
    .fetch_one(tx.conn())
    .await
    .map_err(map_name_clash)
}

/// Moves every schedule that follows the company's time zone to `time_zone`
/// (the company's new one): each fires from now on at its wall-clock times
/// there. Schedules with a time zone of their own keep it.
pub async fn follow_company_time_zone(tx: &mut TenantTx, time_zone: &str) -> DomainResult<u64> {
    let tenant = tx.tenant();
    let following: Vec<Schedule> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM schedules WHERE company_id = $1 \
         AND follows_company_time_zone AND time_zone <> $2 ORDER BY id FOR UPDATE"
    )))
    .bind(tenant)
    .bind(time_zone)
    .fetch_all(tx.conn())
    .await?;
    let moved = following.len() as u64;
    for s in following {
        let name = s.name.clone();
        let retime = Retime {
            cron: None,
            time_zone: Some(time_zone.to_owned()),
            payload: None,
            enabled: None,
        };
        apply(tx, s, name, retime, true, ValidationErrors::new()).await?;
    }
    Ok(moved)
}

pub async fn delete(tx: &mut TenantTx, id: ScheduleId) -> DomainResult<()> {
    let tenant = tx.tenant();
    let done = sqlx::query("DELETE FROM schedules WHERE company_id = $1 AND id = $2")
        .bind(tenant)
        .bind(id)
        .execute(tx.conn())
        .await?;
    if done.rows_affected() == 0 {
        return Err(DomainError::not_found("schedule"));
    }
    Ok(())
}

// ---- for the scheduler (platform transactions) --------------------------------

/// A schedule the scheduler has locked to fire.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DueSchedule {
    pub id: ScheduleId,
    pub company_id: Option<TenantId>,
    pub kind: String,
    pub cron: String,
    pub time_zone: String,
    pub payload: serde_json::Value,
    pub fired_through: DateTime<Utc>,
}

/// Locks up to `limit` schedules due at `now`; other schedulers skip them.
pub async fn lock_due(
    tx: &mut SystemTx,
    now: DateTime<Utc>,
    limit: i64,
) -> DomainResult<Vec<DueSchedule>> {
    Ok(sqlx::query_as(
        "SELECT id, company_id, kind, cron, time_zone, payload, fired_through FROM schedules \
         WHERE enabled AND next_fire_at <= $1 ORDER BY next_fire_at LIMIT $2 FOR UPDATE SKIP LOCKED",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(tx.conn())
    .await?)
}

/// Records one fire; `false` when that (schedule, fire time) fired already.
pub async fn record_fire(
    tx: &mut SystemTx,
    s: &DueSchedule,
    fire_at: DateTime<Utc>,
    job: JobId,
    caught_up: bool,
    now: DateTime<Utc>,
) -> DomainResult<bool> {
    let done = sqlx::query(
        "INSERT INTO schedule_fires (schedule_id, fire_at, company_id, job_id, caught_up, fired_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
    )
    .bind(s.id)
    .bind(fire_at)
    .bind(s.company_id)
    .bind(job)
    .bind(caught_up)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn advance(
    tx: &mut SystemTx,
    id: ScheduleId,
    fired_through: DateTime<Utc>,
    next: Option<DateTime<Utc>>,
) -> DomainResult<()> {
    sqlx::query("UPDATE schedules SET fired_through = $2, next_fire_at = $3 WHERE id = $1")
        .bind(id)
        .bind(fired_through)
        .bind(next)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// The soonest fire of any enabled schedule, to know how long to sleep.
pub async fn next_due(tx: &mut SystemTx) -> DomainResult<Option<DateTime<Utc>>> {
    Ok(
        sqlx::query_scalar("SELECT min(next_fire_at) FROM schedules WHERE enabled")
            .fetch_one(tx.conn())
            .await?,
    )
}

/// The schedules every new company starts with: (name, job kind, cron), in
/// the company's time zone.
pub const COMPANY_DEFAULTS: &[(&str, &str, &str)] = &[
    ("billing run", "billing.run", "0 2 * * *"),
    ("overdue invoices", "billing.overdue", "0 1 * * *"),
    ("payment reminders", "billing.remind", "0 9 * * *"),
    ("mailbox polls", "mailboxes.poll_all", "* * * * *"),
    ("sla checks", "tickets.sla_check", "*/5 * * * *"),
    ("warranty alerts", "assets.warranty_alerts", "0 8 * * *"),
    ("contract expiry", "contracts.expiry_warnings", "0 8 * * *"),
    ("autopay", "stripe.autopay", "0 10 * * *"),
    ("report aggregation", "reports.aggregate", "0 3 * * *"),
    ("management report", "reports.management", "0 7 1 * *"),
];

/// Creates [`COMPANY_DEFAULTS`] for a new company, as its owner does.
pub async fn create_defaults(
    owner: &mut sqlx::PgConnection,
    company: TenantId,
    time_zone: &str,
    now: DateTime<Utc>,
) -> DomainResult<()> {
    let tz: Tz = time_zone.parse().unwrap_or(chrono_tz::UTC);
    for (name, kind, cron) in COMPANY_DEFAULTS {
        let next = CronSpec::parse(cron)
            .map_err(DomainError::Internal)?
            .next_after(tz, now);
        sqlx::query(
            "INSERT INTO schedules (id, company_id, name, kind, cron, time_zone, payload, enabled, fired_through, \
             next_fire_at, created_at, updated_at, follows_company_time_zone) \
             VALUES ($1, $2, $3, $4, $5, $6, '{}'::jsonb, true, $7, $8, $7, $7, true) \
             ON CONFLICT DO NOTHING",
        )
        .bind(ScheduleId::new())
        .bind(company)
        .bind(name)
        .bind(kind)
        .bind(cron)
        .bind(time_zone)
        .bind(now)
        .bind(next)
        .execute(&mut *owner)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn standard_weekday_numbers_are_written_as_names() {
        assert_eq!(standard_weekdays("1"), "Mon");
        assert_eq!(standard_weekdays("0"), "Sun");
        assert_eq!(standard_weekdays("7"), "Sun");
        assert_eq!(standard_weekdays("0,7"), "Sun");
        assert_eq!(standard_weekdays("1-5"), "Mon,Tue,Wed,Thu,Fri");
        assert_eq!(standard_weekdays("5-7"), "Fri,Sat,Sun");
        assert_eq!(standard_weekdays("1-5/2"), "Mon,Wed,Fri");
        assert_eq!(standard_weekdays("1/3"), "Mon,Thu,Sun");
        assert_eq!(standard_weekdays("1,3"), "Mon,Wed");
        for kept in ["*", "*/2", "Mon", "Mon-Fri", "8", "5-1", "x", "1/0", ""] {
            assert_eq!(standard_weekdays(kept), kept, "{kept}");
        }
    }

    #[test]
    fn five_field_weekdays_are_standard_cron() {
        // 2026-03-02 is a Monday.
        let from = utc("2026-03-01T00:00:00Z");
        let until = utc("2026-03-09T00:00:00Z");
        let days = |expr: &str| -> Vec<String> {
            CronSpec::parse(expr)
                .unwrap_or_else(|e| panic!("{expr}: {e}"))
                .fires_between(chrono_tz::UTC, from, until, 20)
                .iter()
                .map(|t| t.format("%a").to_string())
                .collect()
        };
        assert_eq!(days("0 8 * * 1"), ["Mon"]);
        assert_eq!(days("0 8 * * 0"), ["Sun", "Sun"]);
        assert_eq!(days("0 8 * * 7"), ["Sun", "Sun"]);
        assert_eq!(days("0 8 * * 1-5"), ["Mon", "Tue", "Wed", "Thu", "Fri"]);
        assert_eq!(days("0 8 * * Mon"), ["Mon"]);
        assert_eq!(days("0 8 * * 6,0").len(), 3, "Sat, Sun, Sun");
        for bad in ["0 8 * * 8", "0 8 * * x", "0 8 * * 1/0", "0 8 * *"] {
            assert!(CronSpec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_five_and_six_fields() {
        assert!(CronSpec::parse("*/5 * * * *").is_ok());
        assert!(CronSpec::parse("0 30 2 * * *").is_ok());
        assert!(CronSpec::parse("61 * * * *").is_err());
        assert!(CronSpec::parse("* *").is_err());
    }

    #[test]
    fn every_minute_in_a_window() {
        let c = CronSpec::parse("* * * * *").unwrap();
        let f = c.fires_between(
            chrono_tz::UTC,
            utc("2026-01-01T00:00:00Z"),
            utc("2026-01-01T00:05:00Z"),
            100,
        );
        assert_eq!(f.len(), 5);
        assert_eq!(f[0], utc("2026-01-01T00:01:00Z"));
        assert_eq!(f[4], utc("2026-01-01T00:05:00Z"));
        let limited = c.fires_between(
            chrono_tz::UTC,
            utc("2026-01-01T00:00:00Z"),
            utc("2026-01-01T05:00:00Z"),
            3,
        );
        assert_eq!(limited.len(), 3);
    }

    #[test]
    fn half_past_two_in_new_york_across_both_changes() {
        let ny: Tz = "America/New_York".parse().unwrap();
        let c = CronSpec::parse("30 2 * * *").unwrap();
        // Spring: 2026-03-08 02:00 EST jumps to 03:00 EDT; 02:30 never
        // happens, so it fires when the clock jumps (07:00 UTC), once.
        let spring = c.fires_between(
            ny,
            utc("2026-03-07T00:00:00Z"),
            utc("2026-03-10T00:00:00Z"),
            10,
        );
        assert_eq!(
            spring,
            [
                utc("2026-03-07T07:30:00Z"),
                utc("2026-03-08T07:00:00Z"),
                utc("2026-03-09T06:30:00Z")
            ]
        );
        // Autumn: 2026-11-01 02:00 EDT falls back to 01:00 EST; 02:30 EST
        // happens once, at 07:30 UTC.
        let autumn = c.fires_between(
            ny,
            utc("2026-10-31T00:00:00Z"),
            utc("2026-11-03T00:00:00Z"),
            10,
        );
        assert_eq!(
            autumn,
            [
                utc("2026-10-31T06:30:00Z"),
                utc("2026-11-01T07:30:00Z"),
                utc("2026-11-02T07:30:00Z")
            ]
        );
        // 01:30 happens twice on that day: it fires once, at the first.
        let c = CronSpec::parse("30 1 * * *").unwrap();
        let twice = c.fires_between(
            ny,
            utc("2026-11-01T00:00:00Z"),
            utc("2026-11-02T00:00:00Z"),
            10,
        );
        assert_eq!(twice, [utc("2026-11-01T05:30:00Z")]);
    }
}
