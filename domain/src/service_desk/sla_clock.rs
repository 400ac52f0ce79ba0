//! The SLA clock: how much *business time* has passed on a ticket, and when
//! a target will be reached. Pure computation, no database.
//!
//! # What counts
//!
//! A [`BusinessCalendar`] says when the clock runs:
//!
//! * **Business hours** are given per weekday (index 0 = Monday) as local
//!   wall-clock times in the calendar's IANA zone, e.g. 09:00–17:00. A
//!   weekday without hours is closed. `hours: None` means around the clock
//!   (24x7). An end of 24:00 (midnight at the end of the day) is stored as
//!   [`DayHours::END_OF_DAY`] (`00:00`); see [`DayHours`].
//! * **Holidays** are whole *local* dates in the calendar's zone: on such a
//!   date the clock does not run at all, from local midnight to the next
//!   local midnight. They apply to 24x7 calendars too (a 24x7 policy that
//!   ignores holidays is simply given an empty set).
//! * **Pauses** (e.g. "waiting on client") are half-open UTC intervals
//!   `[start, end)`. They may overlap, be unsorted, or reach outside the
//!   window asked about; any instant covered by at least one pause is not
//!   counted, and it is counted once only. Empty or inverted pauses are
//!   ignored. A pause that is still running is passed with
//!   `end = `[`far_future()`] (or anything later).
//!
//! The clock counts *real* elapsed time (UTC seconds) inside the open
//! intervals, so on a DST change day the wall-clock hours and the counted
//! hours differ: in Europe/Berlin on the spring-forward day a 00:00–24:00 day
//! is 23 h and on the fall-back day 25 h.
//!
//! # Local times that do not exist or exist twice
//!
//! Every local wall-clock time `w` on date `d` is mapped to *the earliest
//! instant at which the local clock reads `w` or later*:
//!
//! * a time that exists once maps to that instant;
//! * an ambiguous time (in the repeated hour after a fall-back) maps to its
//!   first occurrence;
//! * a nonexistent time (in the gap of a spring-forward) maps to the instant
//!   of the transition, i.e. where the gap ends. On 2024-03-31 in
//!   Europe/Berlin, 02:30 therefore maps to 03:00 CEST (01:00 UTC), so open
//!   hours 01:30–03:30 contain one real hour and 02:00–03:00 none.
//!
//! This mapping is monotonic, so the open intervals of consecutive days
//! never overlap.
//!
//! # Cost
//!
//! Work is done day by day (a handful of time-zone look-ups per calendar
//! day), never minute by minute; a 24x7 calendar without holidays needs no
//! day walk at all, and whole days inside a pause are skipped in one step.
//! The clock covers 1900-01-01 to [`far_future()`] (3000-01-01) UTC:
//! instants outside that range are never counted, and
//! [`BusinessCalendar::due`] returns `None` when the target would only be
//! reached at or after `far_future()`. So no input, however absurd, makes a
//! call walk more than those 1100 years (tens of milliseconds); a year-long
//! span takes some 50 µs in a release build.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset,
    TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;
use serde_json::{Map, Value};

use crate::kernel::text::text_enum;

/// The keys used in the JSON form of opening hours, Monday first.
pub const DAY_KEYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Opening hours for one weekday, as local wall-clock times in the
/// calendar's zone.
///
/// `end` must be after `start`, except that an `end` of `00:00`
/// ([`DayHours::END_OF_DAY`]) means 24:00, midnight at the end of the day
/// (`00:00` can never be a valid closing time otherwise). Hours that are not
/// [valid](DayHours::is_valid) are treated as closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DayHours {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl DayHours {
    /// The `end` that stands for 24:00.
    pub const END_OF_DAY: NaiveTime = NaiveTime::MIN;

    /// Hours from `start` to `end` (`END_OF_DAY` for 24:00); `None` unless
    /// `end` is after `start`.
    pub fn new(start: NaiveTime, end: NaiveTime) -> Option<Self> {
        let h = Self { start, end };
        h.is_valid().then_some(h)
    }

    /// Whether the day closes at 24:00.
    pub fn ends_at_midnight(&self) -> bool {
        self.end == Self::END_OF_DAY
    }

    /// `end` is after `start` (24:00 is after everything).
    pub fn is_valid(&self) -> bool {
        self.ends_at_midnight() || self.end > self.start
    }
}

/// When the SLA clock runs: business hours per weekday in an IANA zone, and
/// holidays (whole local dates on which the clock does not run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessCalendar {
    pub tz: Tz,
    /// Index 0 = Monday. `None` = around the clock (24x7).
    pub hours: Option<[Option<DayHours>; 7]>,
    pub holidays: BTreeSet<NaiveDate>,
}

/// The end to pass for a pause that has not ended yet, and the horizon of
/// the clock: nothing at or after this instant (3000-01-01 00:00 UTC) is
/// counted, and [`BusinessCalendar::due`] returns `None` rather than an
/// instant this late.
pub fn far_future() -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(3000, 1, 1)
        .map(|d| d.and_time(NaiveTime::MIN).and_utc())
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Nothing before this instant (1900-01-01 00:00 UTC) is counted.
fn far_past() -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(1900, 1, 1)
        .map(|d| d.and_time(NaiveTime::MIN).and_utc())
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

type Span = (DateTime<Utc>, DateTime<Utc>);

impl BusinessCalendar {
    /// A 24x7 calendar without holidays.
    pub fn around_the_clock(tz: Tz) -> Self {
        Self {
            tz,
            hours: None,
            holidays: BTreeSet::new(),
        }
    }

    /// Business time that elapses in `[from, to)`, minus any instant covered
    /// by one of `pauses` (half-open UTC intervals, possibly overlapping,
    /// unsorted, or reaching outside the window). Zero if `to <= from`.
    pub fn elapsed(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        pauses: &[(DateTime<Utc>, DateTime<Utc>)],
    ) -> Duration {
        let limit = to.min(far_future());
        let from = from.max(far_past());
        let mut total = Duration::zero();
        if limit <= from {
            return total;
        }
        let pauses = merge_pauses(pauses);
        self.for_each_open(from, limit, &pauses, |s, e| {
            total += e - s;
            ControlFlow::Continue(())
        });
        total
    }

    /// The earliest instant at which `target` business time will have
    /// elapsed since `from`, given `pauses`; consistent with
    /// [`elapsed`](Self::elapsed): `elapsed(from, due(from, t)) == t`.
    ///
    /// `None` when the target cannot be reached before [`far_future()`]:
    /// a pause never ends (its end is `far_future()` or later), or the
    /// calendar has no open hours at all. A target of zero or less is due at
    /// `from`.
    pub fn due(
        &self,
        from: DateTime<Utc>,
        target: Duration,
        pauses: &[(DateTime<Utc>, DateTime<Utc>)],
    ) -> Option<DateTime<Utc>> {
        if target <= Duration::zero() {
            return Some(from);
        }
        let limit = far_future();
        let start = from.max(far_past());
        // business time never runs faster than real time
        if limit - start < target || !self.has_open_hours() {
            return None;
        }
        let pauses = merge_pauses(pauses);
        let mut remaining = target;
        let mut found = None;
        self.for_each_open(start, limit, &pauses, |s, e| {
            let len = e - s;
            if len >= remaining {
                found = s.checked_add_signed(remaining);
                ControlFlow::Break(())
            } else {
                remaining -= len;
                ControlFlow::Continue(())
            }
        });
        found
    }

    /// Whether any weekday has open hours (always true for 24x7).
    fn has_open_hours(&self) -> bool {
        match &self.hours {
            None => true,
            Some(h) => h.iter().flatten().any(DayHours::is_valid),
        }
    }

    /// Calls `f` with the open, unpaused pieces of `[from, limit)`, in
    /// order; each piece is non-empty. `pauses` must be sorted and merged.
    fn for_each_open(
        &self,
        from: DateTime<Utc>,
        limit: DateTime<Utc>,
        pauses: &[Span],
        mut f: impl FnMut(DateTime<Utc>, DateTime<Utc>) -> ControlFlow<()>,
    ) {
        let mut cutter = PauseCutter { pauses, idx: 0 };
        let hours = match &self.hours {
            None if self.holidays.is_empty() => {
                let _ = cutter.emit(from, limit, &mut f);
                return;
            }
            None => None,
            Some(h) => Some(h),
        };

        // Every day before the local date of `from` ends at or before the
        // local midnight that starts it, which is not after `from`.
        let Some(mut day) = local_date(self.tz, from) else {
            return;
        };
        let Some(mut day_start) = self.local_instant(day, NaiveTime::MIN) else {
            return;
        };
        let mut skip_idx = 0;
        while day_start < limit {
            // Whole days inside one pause are skipped in one step: days up
            // to the day before the pause's last local date end by then.
            while pauses.get(skip_idx).is_some_and(|p| p.1 <= day_start) {
                skip_idx += 1;
            }
            if let Some(&(ps, pe)) = pauses.get(skip_idx)
                && ps <= day_start
                && let Some(jump) = local_date(self.tz, pe).and_then(|d| d.pred_opt())
                && jump > day
            {
                let Some(start) = self.local_instant(jump, NaiveTime::MIN) else {
                    return;
                };
                day = jump;
                day_start = start;
                continue;
            }

            let Some(next_day) = day.succ_opt() else {
                return;
            };
            let Some(next_start) = self.local_instant(next_day, NaiveTime::MIN) else {
                return;
            };
            if !self.holidays.contains(&day) {
                let span = match hours {
                    None => Some((day_start, next_start)),
                    Some(h) => h[day.weekday().num_days_from_monday() as usize]
                        .and_then(|dh| self.open_span(day, dh, next_start)),
                };
                if let Some((s, e)) = span {
                    let (s, e) = (s.max(from), e.min(limit));
                    if s < e && cutter.emit(s, e, &mut f).is_break() {
                        return;
                    }
                }
            }
            day = next_day;
            day_start = next_start;
        }
    }

    /// The open interval of `day` (`next_start` = the next local midnight).
    fn open_span(&self, day: NaiveDate, dh: DayHours, next_start: DateTime<Utc>) -> Option<Span> {
        if !dh.is_valid() {
            return None;
        }
        let start = self.local_instant(day, dh.start)?;
        let end = if dh.ends_at_midnight() {
            next_start
        } else {
            self.local_instant(day, dh.end)?
        };
        (start < end).then_some((start, end))
    }

    /// The earliest instant at which the local clock reads `day time` or
    /// later (see the module docs).
    fn local_instant(&self, day: NaiveDate, time: NaiveTime) -> Option<DateTime<Utc>> {
        local_instant(self.tz, day.and_time(time))
    }
}

/// The local date of `t` in `tz`; `None` only near chrono's limits.
fn local_date(tz: Tz, t: DateTime<Utc>) -> Option<NaiveDate> {
    let utc = t.naive_utc();
    utc.checked_add_offset(tz.offset_from_utc_datetime(&utc).fix())
        .map(|l| l.date())
}

/// The earliest instant at which the wall clock in `tz` reads `wall` or
/// later: the instant itself, the first of two, or the end of a DST gap.
fn local_instant(tz: Tz, wall: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&wall) {
        LocalResult::Single(t) => Some(t.to_utc()),
        LocalResult::Ambiguous(a, b) => Some(a.min(b).to_utc()),
        LocalResult::None => gap_end(tz, wall),
    }
}

/// For a nonexistent wall time, the instant at which the gap around it ends:
/// probe forward in growing steps for a wall time that exists, then narrow
/// down to the first existing whole second (transitions are on whole
/// seconds).
fn gap_end(tz: Tz, wall: NaiveDateTime) -> Option<DateTime<Utc>> {
    let exists = |w: &NaiveDateTime| tz.from_local_datetime(w).earliest().is_some();
    let mut lo = wall.with_nanosecond(0).unwrap_or(wall);
    let mut step = Duration::minutes(1);
    let mut hi = loop {
        let probe = lo.checked_add_signed(step)?;
        if exists(&probe) {
            break probe;
        }
        lo = probe;
        if step > Duration::hours(48) {
            return None;
        }
        step = step * 2;
    };
    loop {
        let gap = (hi - lo).num_seconds();
        if gap <= 1 {
            break;
        }
        let mid = lo.checked_add_signed(Duration::seconds(gap / 2))?;
        if exists(&mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    tz.from_local_datetime(&hi).earliest().map(|t| t.to_utc())
}

/// Sorted, non-overlapping, non-adjacent, non-empty pauses, cut off at
/// [`far_future()`].
fn merge_pauses(pauses: &[Span]) -> Vec<Span> {
    let horizon = far_future();
    let mut v: Vec<Span> = pauses
        .iter()
        .map(|&(s, e)| (s.min(horizon), e.min(horizon)))
        .filter(|(s, e)| s < e)
        .collect();
    v.sort_unstable();
    let mut out: Vec<Span> = Vec::with_capacity(v.len());
    for (s, e) in v {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// Cuts merged pauses out of increasing intervals.
struct PauseCutter<'a> {
    pauses: &'a [Span],
    idx: usize,
}

impl PauseCutter<'_> {
    /// Calls `f` with the parts of `[s, e)` outside every pause. Successive
    /// calls must come with increasing, non-overlapping intervals.
    fn emit(
        &mut self,
        s: DateTime<Utc>,
        e: DateTime<Utc>,
        f: &mut impl FnMut(DateTime<Utc>, DateTime<Utc>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        while self.pauses.get(self.idx).is_some_and(|p| p.1 <= s) {
            self.idx += 1;
        }
        let mut cur = s;
        let mut j = self.idx;
        while cur < e {
            match self.pauses.get(j) {
                Some(&(ps, pe)) if ps < e => {
                    if ps > cur {
                        f(cur, ps)?;
                    }
                    cur = cur.max(pe);
                    j += 1;
                }
                _ => {
                    f(cur, e)?;
                    cur = e;
                }
            }
        }
        ControlFlow::Continue(())
    }
}

/// Parses opening hours from their JSON form, as stored and as accepted by
/// the API: `{"mon": ["09:00", "17:00"], ..., "sun": null}`. A missing day
/// or `null` is closed; times are `HH:MM` (24-hour), the end must be after
/// the start, `"24:00"` is allowed as an end, and at least one day must be
/// open.
pub fn parse_hours(v: &Value) -> Result<[Option<DayHours>; 7], String> {
    let obj = v.as_object().ok_or_else(|| {
        format!(
            "opening hours must be an object like {{\"mon\": [\"09:00\", \"17:00\"], \"sun\": null}}, got {v}"
        )
    })?;
    if let Some(key) = obj.keys().find(|k| !DAY_KEYS.contains(&k.as_str())) {
        return Err(format!(
            "unknown day \"{key}\" in opening hours; expected one of mon, tue, wed, thu, fri, sat, sun"
        ));
    }
    let mut out = [None; 7];
    for (slot, day) in out.iter_mut().zip(DAY_KEYS) {
        match obj.get(day) {
            None | Some(Value::Null) => {}
            Some(val) => *slot = Some(parse_day(day, val)?),
        }
    }
    if out.iter().all(Option::is_none) {
        return Err("opening hours must have at least one open day".to_string());
    }
    Ok(out)
}

fn parse_day(day: &str, val: &Value) -> Result<DayHours, String> {
    let (Some(start), Some(end)) = (match val.as_array().map(Vec::as_slice) {
        Some([a, b]) => (a.as_str(), b.as_str()),
        _ => (None, None),
    }) else {
        return Err(format!(
            "{day}: expected [\"HH:MM\", \"HH:MM\"] or null, got {val}"
        ));
    };
    let bad = |what: &str, s: &str| {
        format!("{day}: {what} \"{s}\" is not a time in 24-hour HH:MM format (00:00 to 23:59)")
    };
    let start_t = match parse_hhmm(start) {
        Some(HhMm::Time(t)) => t,
        Some(HhMm::Midnight) => {
            return Err(format!(
                "{day}: opening time \"24:00\" is not allowed; 24:00 is only valid as a closing time"
            ));
        }
        None => return Err(bad("opening time", start)),
    };
    let end_t = match parse_hhmm(end) {
        // 00:00 would stand for 24:00 in `DayHours`; only "24:00" says so
        Some(HhMm::Time(t)) if t == DayHours::END_OF_DAY => {
            return Err(format!(
                "{day}: closing time 00:00 must be after opening time {start}; use 24:00 for midnight"
            ));
        }
        Some(HhMm::Time(t)) => t,
        Some(HhMm::Midnight) => DayHours::END_OF_DAY,
        None => return Err(format!("{} (or 24:00)", bad("closing time", end))),
    };
    let hours = DayHours {
        start: start_t,
        end: end_t,
    };
    if !hours.is_valid() {
        return Err(format!(
            "{day}: closing time {end} must be after opening time {start} (use 24:00 for midnight)"
        ));
    }
    Ok(hours)
}

enum HhMm {
    Time(NaiveTime),
    Midnight,
}

fn parse_hhmm(s: &str) -> Option<HhMm> {
    let b = s.as_bytes();
    if b.len() != 5 || b[2] != b':' {
        return None;
    }
    let digit = |i: usize| {
        b.get(i)
            .filter(|c| c.is_ascii_digit())
            .map(|c| u32::from(c - b'0'))
    };
    let h = digit(0)? * 10 + digit(1)?;
    let m = digit(3)? * 10 + digit(4)?;
    if h == 24 && m == 0 {
        return Some(HhMm::Midnight);
    }
    NaiveTime::from_hms_opt(h, m, 0).map(HhMm::Time)
}

/// The JSON form read by [`parse_hours`]: all seven keys, `null` for closed
/// days, `"24:00"` for an end at midnight. Seconds are dropped.
pub fn hours_to_json(h: &[Option<DayHours>; 7]) -> Value {
    let fmt = |t: NaiveTime| t.format("%H:%M").to_string();
    let mut m = Map::new();
    for (day, hours) in DAY_KEYS.iter().zip(h) {
        let v = match hours {
            Some(dh) => {
                let end = if dh.ends_at_midnight() {
                    "24:00".to_string()
                } else {
                    fmt(dh.end)
                };
                Value::Array(vec![Value::String(fmt(dh.start)), Value::String(end)])
            }
            None => Value::Null,
        };
        m.insert((*day).to_string(), v);
    }
    Value::Object(m)
}

text_enum!(
    /// SLA state of one target, ordered by severity.
    #[derive(PartialOrd, Ord)]
    SlaState {
        Ok = "ok",
        Warning = "warning",
        Breached = "breached",
    }
);

/// `Breached` when `elapsed >= target`; `Warning` when
/// `elapsed >= target * warn_percent / 100` (compared exactly, to the
/// nanosecond); otherwise `Ok`. `warn_percent` is meant to be 1..=99; 100 or
/// more never warns, 0 always does.
pub fn state_of(elapsed: Duration, target: Duration, warn_percent: u8) -> SlaState {
    if elapsed >= target {
        SlaState::Breached
    } else if nanos(elapsed) * 100 >= nanos(target) * i128::from(warn_percent) {
        SlaState::Warning
    } else {
        SlaState::Ok
    }
}

fn nanos(d: Duration) -> i128 {
    i128::from(d.num_seconds()) * 1_000_000_000 + i128::from(d.subsec_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::America::New_York;
    use chrono_tz::Europe::Berlin;
    use proptest::prelude::*;
    use serde_json::json;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn hrs(h: i64) -> Duration {
        Duration::hours(h)
    }

    fn mins(m: i64) -> Duration {
        Duration::minutes(m)
    }

    fn every_day(tz: Tz, start: NaiveTime, end: NaiveTime) -> BusinessCalendar {
        BusinessCalendar {
            tz,
            hours: Some([Some(DayHours { start, end }); 7]),
            holidays: BTreeSet::new(),
        }
    }

    /// Mon–Fri 09:00–17:00.
    fn office(tz: Tz) -> BusinessCalendar {
        let d = Some(DayHours {
            start: t(9, 0),
            end: t(17, 0),
        });
        BusinessCalendar {
            tz,
            hours: Some([d, d, d, d, d, None, None]),
            holidays: BTreeSet::new(),
        }
    }

    /// Open only on Sundays, the whole day.
    fn sundays_only(tz: Tz) -> BusinessCalendar {
        let mut hours = [None; 7];
        hours[6] = Some(DayHours {
            start: t(0, 0),
            end: DayHours::END_OF_DAY,
        });
        BusinessCalendar {
            tz,
            hours: Some(hours),
            holidays: BTreeSet::new(),
        }
    }

    // ---- 24x7 ----

    #[test]
    fn around_the_clock_counts_wall_time() {
        let cal = BusinessCalendar::around_the_clock(Berlin);
        let from = utc("2024-06-14T14:00:00Z");
        let to = utc("2024-06-17T08:00:00Z");
        assert_eq!(cal.elapsed(from, to, &[]), to - from);
        assert_eq!(cal.elapsed(from, to, &[]), hrs(66));
        assert_eq!(cal.due(from, hrs(66), &[]), Some(to));
    }

    #[test]
    fn around_the_clock_zero_when_to_not_after_from() {
        let cal = BusinessCalendar::around_the_clock(Berlin);
        let a = utc("2024-06-14T14:00:00Z");
        assert_eq!(cal.elapsed(a, a, &[]), Duration::zero());
        assert_eq!(cal.elapsed(a + hrs(5), a, &[]), Duration::zero());
        assert_eq!(
            office(Berlin).elapsed(a + hrs(50), a, &[]),
            Duration::zero()
        );
    }

    #[test]
    fn around_the_clock_subtracts_pauses() {
        let cal = BusinessCalendar::around_the_clock(chrono_tz::UTC);
        let from = utc("2024-01-01T00:00:00Z");
        let to = utc("2024-01-02T00:00:00Z");
        let p1 = (utc("2024-01-01T02:00:00Z"), utc("2024-01-01T03:00:00Z"));
        let p2 = (utc("2024-01-01T10:00:00Z"), utc("2024-01-01T10:30:00Z"));
        assert_eq!(cal.elapsed(from, to, &[p2, p1]), hrs(24) - mins(90));
        assert_eq!(
            cal.due(from, hrs(3), &[p2, p1]),
            Some(utc("2024-01-01T04:00:00Z"))
        );
        assert_eq!(
            cal.due(from, hrs(11), &[p2, p1]),
            Some(utc("2024-01-01T12:30:00Z"))
        );
    }

    #[test]
    fn overlapping_pauses_count_once() {
        let cal = BusinessCalendar::around_the_clock(chrono_tz::UTC);
        let from = utc("2024-01-01T00:00:00Z");
        let to = utc("2024-01-01T12:00:00Z");
        let pauses = [
            (utc("2024-01-01T02:00:00Z"), utc("2024-01-01T05:00:00Z")),
            (utc("2024-01-01T04:00:00Z"), utc("2024-01-01T06:00:00Z")),
            (utc("2024-01-01T03:00:00Z"), utc("2024-01-01T04:00:00Z")),
            // adjacent to the previous ones
            (utc("2024-01-01T06:00:00Z"), utc("2024-01-01T07:00:00Z")),
            // the same pause twice
            (utc("2024-01-01T02:00:00Z"), utc("2024-01-01T05:00:00Z")),
        ];
        // paused 02:00-07:00 = 5 h
        assert_eq!(cal.elapsed(from, to, &pauses), hrs(7));
        assert_eq!(
            cal.due(from, hrs(3), &pauses),
            Some(utc("2024-01-01T08:00:00Z"))
        );
    }

    #[test]
    fn pauses_partly_outside_the_window() {
        let cal = BusinessCalendar::around_the_clock(chrono_tz::UTC);
        let from = utc("2024-01-01T10:00:00Z");
        let to = utc("2024-01-01T20:00:00Z");
        let pauses = [
            // began before `from`, ends 1 h into the window
            (utc("2024-01-01T08:00:00Z"), utc("2024-01-01T11:00:00Z")),
            // begins 1 h before `to`, runs past it
            (utc("2024-01-01T19:00:00Z"), utc("2024-01-02T05:00:00Z")),
            // entirely outside
            (utc("2024-01-01T01:00:00Z"), utc("2024-01-01T02:00:00Z")),
            (utc("2024-01-03T01:00:00Z"), utc("2024-01-03T02:00:00Z")),
            // empty and inverted: ignored
            (utc("2024-01-01T12:00:00Z"), utc("2024-01-01T12:00:00Z")),
            (utc("2024-01-01T16:00:00Z"), utc("2024-01-01T13:00:00Z")),
        ];
        assert_eq!(cal.elapsed(from, to, &pauses), hrs(8));
        // paused at `from`: counting starts at 11:00
        assert_eq!(
            cal.due(from, hrs(1), &pauses),
            Some(utc("2024-01-01T12:00:00Z"))
        );
        // 8 h reached exactly when the second pause begins
        assert_eq!(
            cal.due(from, hrs(8), &pauses),
            Some(utc("2024-01-01T19:00:00Z"))
        );
        // one more minute has to wait for the pause to end
        assert_eq!(
            cal.due(from, hrs(8) + mins(1), &pauses),
            Some(utc("2024-01-02T05:01:00Z"))
        );
    }

    #[test]
    fn holidays_apply_to_around_the_clock() {
        let mut cal = BusinessCalendar::around_the_clock(Berlin);
        cal.holidays.insert(date(2024, 12, 25));
        // Dec 24 12:00 CET .. Dec 26 12:00 CET: only 24 h minus the holiday's 24 h
        let from = utc("2024-12-24T11:00:00Z");
        let to = utc("2024-12-26T11:00:00Z");
        assert_eq!(cal.elapsed(from, to, &[]), hrs(24));
        // 13 h from Dec 24 12:00 local: 12 h until Dec 24 ends at 23:00Z,
        // 1 more h after the holiday ends at Dec 26 00:00 CET (Dec 25 23:00Z)
        assert_eq!(
            cal.due(from, hrs(12), &[]),
            Some(utc("2024-12-24T23:00:00Z"))
        );
        assert_eq!(
            cal.due(from, hrs(13), &[]),
            Some(utc("2024-12-26T00:00:00Z"))
        );
    }

    #[test]
    fn zero_or_negative_target_is_due_at_from() {
        let from = utc("2024-06-15T10:00:00Z"); // a Saturday
        assert_eq!(office(Berlin).due(from, Duration::zero(), &[]), Some(from));
        assert_eq!(office(Berlin).due(from, -hrs(1), &[]), Some(from));
    }

    // ---- business hours, Europe/Berlin, summer (CEST = UTC+2) ----

    #[test]
    fn friday_afternoon_to_monday_morning() {
        let cal = office(Berlin);
        let fri_16 = utc("2024-06-14T14:00:00Z");
        let mon_10 = utc("2024-06-17T08:00:00Z");
        assert_eq!(cal.elapsed(fri_16, mon_10, &[]), hrs(2));
    }

    #[test]
    fn due_over_the_weekend() {
        let cal = office(Berlin);
        let fri_16 = utc("2024-06-14T14:00:00Z");
        // 1 h on Friday, 3 h on Monday from 09:00: Monday 12:00 local
        let due = cal.due(fri_16, hrs(4), &[]).unwrap();
        assert_eq!(due, utc("2024-06-17T10:00:00Z"));
        assert_eq!(
            due.with_timezone(&Berlin).naive_local(),
            date(2024, 6, 17).and_time(t(12, 0))
        );
        // exactly the end of Friday
        assert_eq!(
            cal.due(fri_16, hrs(1), &[]),
            Some(utc("2024-06-14T15:00:00Z"))
        );
    }

    #[test]
    fn holiday_on_monday_pushes_to_tuesday() {
        let mut cal = office(Berlin);
        cal.holidays.insert(date(2024, 6, 17));
        let fri_16 = utc("2024-06-14T14:00:00Z");
        assert_eq!(
            cal.due(fri_16, hrs(4), &[]),
            Some(utc("2024-06-18T10:00:00Z"))
        );
        assert_eq!(
            cal.elapsed(fri_16, utc("2024-06-18T08:00:00Z"), &[]),
            hrs(2)
        );
    }

    #[test]
    fn ticket_created_on_saturday_starts_monday_nine() {
        let cal = office(Berlin);
        let sat = utc("2024-06-15T08:00:00Z");
        let mon_9 = utc("2024-06-17T07:00:00Z");
        assert_eq!(cal.elapsed(sat, mon_9, &[]), Duration::zero());
        assert_eq!(cal.elapsed(sat, mon_9 + mins(30), &[]), mins(30));
        assert_eq!(cal.due(sat, hrs(1), &[]), Some(utc("2024-06-17T08:00:00Z")));
        // target of a full day: Monday 17:00 exactly
        assert_eq!(cal.due(sat, hrs(8), &[]), Some(utc("2024-06-17T15:00:00Z")));
        // one more minute: Tuesday 09:01
        assert_eq!(
            cal.due(sat, hrs(8) + mins(1), &[]),
            Some(utc("2024-06-18T07:01:00Z"))
        );
    }

    #[test]
    fn created_after_hours_starts_next_morning() {
        let cal = office(Berlin);
        let tue_20 = utc("2024-06-18T18:00:00Z");
        assert_eq!(
            cal.due(tue_20, mins(15), &[]),
            Some(utc("2024-06-19T07:15:00Z"))
        );
        // created before opening the same day
        let wed_6 = utc("2024-06-19T04:00:00Z");
        assert_eq!(
            cal.due(wed_6, mins(15), &[]),
            Some(utc("2024-06-19T07:15:00Z"))
        );
    }

    #[test]
    fn pause_during_business_hours_extends_due() {
        let cal = office(Berlin);
        let mon_9 = utc("2024-06-17T07:00:00Z");
        assert_eq!(
            cal.due(mon_9, hrs(4), &[]),
            Some(utc("2024-06-17T11:00:00Z"))
        );
        // waiting on client 10:00-11:30 local
        let wait = (utc("2024-06-17T08:00:00Z"), utc("2024-06-17T09:30:00Z"));
        assert_eq!(
            cal.due(mon_9, hrs(4), &[wait]),
            Some(utc("2024-06-17T12:30:00Z"))
        );
        assert_eq!(
            cal.elapsed(mon_9, utc("2024-06-17T15:00:00Z"), &[wait]),
            hrs(8) - mins(90)
        );
        // the same pause pushes a 7 h target past closing: 6.5 h on Monday,
        // 0.5 h on Tuesday
        assert_eq!(
            cal.due(mon_9, hrs(7), &[wait]),
            Some(utc("2024-06-18T07:30:00Z"))
        );
    }

    #[test]
    fn pause_outside_business_hours_changes_nothing() {
        let cal = office(Berlin);
        let fri_16 = utc("2024-06-14T14:00:00Z");
        // Friday 18:00 to Monday 08:00 local
        let pause = (utc("2024-06-14T16:00:00Z"), utc("2024-06-17T06:00:00Z"));
        assert_eq!(
            cal.due(fri_16, hrs(4), &[pause]),
            Some(utc("2024-06-17T10:00:00Z"))
        );
        // Friday 16:30 to Monday 09:30 local: loses 30 min on each side
        let pause = (utc("2024-06-14T14:30:00Z"), utc("2024-06-17T07:30:00Z"));
        assert_eq!(
            cal.due(fri_16, hrs(4), &[pause]),
            Some(utc("2024-06-17T11:00:00Z"))
        );
    }

    #[test]
    fn open_pause_means_unknown_due() {
        let cal = office(Berlin);
        let mon_9 = utc("2024-06-17T07:00:00Z");
        let paused = (utc("2024-06-17T08:00:00Z"), far_future());
        assert_eq!(cal.due(mon_9, hrs(4), &[paused]), None);
        let paused_max = (utc("2024-06-17T08:00:00Z"), DateTime::<Utc>::MAX_UTC);
        assert_eq!(cal.due(mon_9, hrs(4), &[paused_max]), None);
        // reachable before the pause begins
        assert_eq!(
            cal.due(mon_9, mins(30), &[paused]),
            Some(utc("2024-06-17T07:30:00Z"))
        );
        assert_eq!(
            BusinessCalendar::around_the_clock(Berlin).due(mon_9, hrs(4), &[paused]),
            None
        );
        // elapsed stops counting at the pause
        assert_eq!(
            cal.elapsed(mon_9, utc("2024-09-01T00:00:00Z"), &[paused]),
            hrs(1)
        );
    }

    #[test]
    fn long_pause_is_skipped_quickly() {
        let cal = office(Berlin);
        let from = utc("2024-06-17T07:00:00Z");
        // paused for 500 years, then 1 h on the next working morning
        let pause = (from, utc("2524-06-17T12:00:00Z"));
        let due = cal.due(from, hrs(1), &[pause]).unwrap();
        assert_eq!(cal.elapsed(from, due, &[pause]), hrs(1));
        assert!(due > pause.1 && due < pause.1 + Duration::days(4), "{due}");
        assert_eq!(due.with_timezone(&Berlin).time().minute(), 0);
    }

    #[test]
    fn calendar_without_open_hours() {
        let cal = BusinessCalendar {
            tz: Berlin,
            hours: Some([None; 7]),
            holidays: BTreeSet::new(),
        };
        let from = utc("2024-06-17T07:00:00Z");
        assert_eq!(cal.due(from, hrs(1), &[]), None);
        assert_eq!(
            cal.elapsed(from, from + Duration::days(30), &[]),
            Duration::zero()
        );
        // invalid hours count as closed
        let bad = Some(DayHours {
            start: t(17, 0),
            end: t(9, 0),
        });
        let cal = BusinessCalendar {
            hours: Some([bad; 7]),
            ..cal
        };
        assert_eq!(cal.due(from, hrs(1), &[]), None);
        assert_eq!(
            cal.elapsed(from, from + Duration::days(30), &[]),
            Duration::zero()
        );
    }

    #[test]
    fn a_year_of_office_hours() {
        let cal = office(Berlin);
        // 2024-01-01 (Mon) 00:00 CET to 2025-01-01 00:00 CET: 2024 has 262 weekdays
        let from = utc("2023-12-31T23:00:00Z");
        let to = utc("2024-12-31T23:00:00Z");
        assert_eq!(cal.elapsed(from, to, &[]), hrs(262 * 8));
        assert_eq!(
            cal.due(from, hrs(262 * 8), &[]),
            Some(utc("2024-12-31T16:00:00Z"))
        );
    }

    #[test]
    fn extreme_inputs_do_not_panic() {
        let min = DateTime::<Utc>::MIN_UTC;
        let max = DateTime::<Utc>::MAX_UTC;
        let y1970 = utc("1970-01-01T00:00:00Z");
        let y2200 = utc("2200-12-31T23:00:00Z");
        let mut holidays = office(Berlin);
        holidays.holidays.insert(date(2200, 12, 31));
        // long pauses are skipped, so these walk 2000..2030 at most
        let pauses = [
            (min, utc("2000-01-01T00:00:00Z")),
            (utc("2030-01-01T00:00:00Z"), max),
            (max, min),
        ];
        for cal in calendars().into_iter().chain([holidays]) {
            for (a, b) in [
                (min, max),
                (max, min),
                (y1970, y2200),
                (y2200, max),
                (min, y1970),
            ] {
                let e = cal.elapsed(a, b, &pauses);
                assert!(e >= Duration::zero() && e <= (b - a).max(Duration::zero()));
                assert_eq!(cal.due(a, Duration::MAX, &pauses), None);
                assert_eq!(cal.due(b, Duration::MAX, &[]), None);
                let _ = cal.due(a, Duration::days(3), &pauses);
                let _ = cal.due(b, Duration::days(3), &[]);
            }
            assert_eq!(cal.due(max, hrs(1), &[]), None);
            assert_eq!(cal.due(far_future(), hrs(1), &[]), None);
            assert!(cal.due(y2200, hrs(1), &[]).is_some());
            assert!(cal.due(min, hrs(1), &[]).is_some());
            assert_eq!(cal.elapsed(far_future(), max, &[]), Duration::zero());
            assert_eq!(cal.elapsed(min, far_past(), &[]), Duration::zero());
        }
        // the one full walk: 1900..3000, about 5/7 of a third of all time
        let all = office(Berlin).elapsed(min, max, &[]).num_days();
        assert!(
            (365 * 1100 * 5 / 7 / 3 - 1000..365 * 1100 * 5 / 7 / 3 + 1000).contains(&all),
            "{all}"
        );
    }

    // ---- DST ----

    #[test]
    fn local_instant_mapping() {
        let w = |d: NaiveDate, h, m| d.and_time(t(h, m));
        // Berlin spring forward 2024-03-31: 02:00 CET -> 03:00 CEST at 01:00Z
        let spring = date(2024, 3, 31);
        assert_eq!(
            local_instant(Berlin, w(spring, 1, 30)),
            Some(utc("2024-03-31T00:30:00Z"))
        );
        assert_eq!(
            local_instant(Berlin, w(spring, 2, 0)),
            Some(utc("2024-03-31T01:00:00Z"))
        );
        assert_eq!(
            local_instant(Berlin, w(spring, 2, 30)),
            Some(utc("2024-03-31T01:00:00Z"))
        );
        assert_eq!(
            local_instant(Berlin, w(spring, 3, 0)),
            Some(utc("2024-03-31T01:00:00Z"))
        );
        assert_eq!(
            local_instant(Berlin, w(spring, 3, 30)),
            Some(utc("2024-03-31T01:30:00Z"))
        );
        // Berlin fall back 2024-10-27: 03:00 CEST -> 02:00 CET at 01:00Z; first occurrence
        let fall = date(2024, 10, 27);
        assert_eq!(
            local_instant(Berlin, w(fall, 2, 30)),
            Some(utc("2024-10-27T00:30:00Z"))
        );
        assert_eq!(
            local_instant(Berlin, w(fall, 3, 0)),
            Some(utc("2024-10-27T02:00:00Z"))
        );
        // New York spring forward 2024-03-10: 02:00 EST -> 03:00 EDT at 07:00Z
        assert_eq!(
            local_instant(New_York, w(date(2024, 3, 10), 2, 15)),
            Some(utc("2024-03-10T07:00:00Z"))
        );
        // a zone whose gap is at midnight: Santiago 2024-09-08 00:00 -> 01:00
        assert_eq!(
            local_instant(chrono_tz::America::Santiago, w(date(2024, 9, 8), 0, 0)),
            Some(utc("2024-09-08T04:00:00Z"))
        );
        // Lord Howe: a 30-minute gap, 02:00 -> 02:30 on 2024-10-06 (at 15:30Z the day before)
        assert_eq!(
            local_instant(chrono_tz::Australia::Lord_Howe, w(date(2024, 10, 6), 2, 10)),
            Some(utc("2024-10-05T15:30:00Z"))
        );
    }

    #[test]
    fn berlin_spring_forward_day_is_23_hours() {
        let cal = sundays_only(Berlin);
        let from = utc("2024-03-29T00:00:00Z");
        let to = utc("2024-04-03T00:00:00Z");
        assert_eq!(cal.elapsed(from, to, &[]), hrs(23));
        // Sunday 00:00 CET = Mar 30 23:00Z
        assert_eq!(
            cal.due(from, hrs(1), &[]),
            Some(utc("2024-03-31T00:00:00Z"))
        );
        assert_eq!(
            cal.due(from, hrs(2), &[]),
            Some(utc("2024-03-31T01:00:00Z"))
        );
        assert_eq!(
            cal.due(from, hrs(23), &[]),
            Some(utc("2024-03-31T22:00:00Z"))
        );
        // a normal Sunday a week later: 24 h
        assert_eq!(
            cal.elapsed(
                utc("2024-04-05T00:00:00Z"),
                utc("2024-04-09T00:00:00Z"),
                &[]
            ),
            hrs(24)
        );
        // 24x7 with that Sunday as a holiday loses 23 h
        let mut cal = BusinessCalendar::around_the_clock(Berlin);
        cal.holidays.insert(date(2024, 3, 31));
        assert_eq!(cal.elapsed(from, to, &[]), (to - from) - hrs(23));
    }

    #[test]
    fn berlin_fall_back_day_is_25_hours() {
        let cal = sundays_only(Berlin);
        let from = utc("2024-10-25T00:00:00Z");
        let to = utc("2024-10-30T00:00:00Z");
        assert_eq!(cal.elapsed(from, to, &[]), hrs(25));
        // Sunday 00:00 CEST = Oct 26 22:00Z; 3 h later is 02:00 CET (01:00Z)
        assert_eq!(
            cal.due(from, hrs(3), &[]),
            Some(utc("2024-10-27T01:00:00Z"))
        );
        let mut cal = BusinessCalendar::around_the_clock(Berlin);
        cal.holidays.insert(date(2024, 10, 27));
        assert_eq!(cal.elapsed(from, to, &[]), (to - from) - hrs(25));
    }

    #[test]
    fn new_york_spring_forward_and_fall_back_days() {
        let cal = sundays_only(New_York);
        // Sunday 2024-03-10: 23 h
        assert_eq!(
            cal.elapsed(
                utc("2024-03-08T00:00:00Z"),
                utc("2024-03-12T00:00:00Z"),
                &[]
            ),
            hrs(23)
        );
        // Sunday 2024-11-03: 25 h
        assert_eq!(
            cal.elapsed(
                utc("2024-11-01T00:00:00Z"),
                utc("2024-11-05T00:00:00Z"),
                &[]
            ),
            hrs(25)
        );
        // Sunday 2024-11-03 starts 04:00Z (EDT), ends Nov 4 05:00Z (EST)
        assert_eq!(
            cal.due(utc("2024-11-01T00:00:00Z"), hrs(25), &[]),
            Some(utc("2024-11-04T05:00:00Z"))
        );
        let mut cal = BusinessCalendar::around_the_clock(New_York);
        cal.holidays.insert(date(2024, 3, 10));
        cal.holidays.insert(date(2024, 11, 3));
        let from = utc("2024-03-01T00:00:00Z");
        let to = utc("2024-12-01T00:00:00Z");
        assert_eq!(cal.elapsed(from, to, &[]), (to - from) - hrs(48));
    }

    #[test]
    fn office_hours_across_dst_weekends() {
        // Berlin: Fri 2024-03-29 16:00 CET (15:00Z) -> Mon 2024-04-01 10:00 CEST (08:00Z)
        let cal = office(Berlin);
        let fri_16 = utc("2024-03-29T15:00:00Z");
        assert_eq!(
            cal.elapsed(fri_16, utc("2024-04-01T08:00:00Z"), &[]),
            hrs(2)
        );
        assert_eq!(
            cal.due(fri_16, hrs(4), &[]),
            Some(utc("2024-04-01T10:00:00Z"))
        );
        // fall back: Fri 2024-10-25 16:00 CEST (14:00Z) -> Mon 12:00 CET (11:00Z)
        let fri_16 = utc("2024-10-25T14:00:00Z");
        assert_eq!(
            cal.due(fri_16, hrs(4), &[]),
            Some(utc("2024-10-28T11:00:00Z"))
        );
        // New York: Fri 2024-03-08 16:00 EST (21:00Z) -> Mon 12:00 EDT (16:00Z)
        let cal = office(New_York);
        let fri_16 = utc("2024-03-08T21:00:00Z");
        assert_eq!(
            cal.due(fri_16, hrs(4), &[]),
            Some(utc("2024-03-11T16:00:00Z"))
        );
        // Fri 2024-11-01 16:00 EDT (20:00Z) -> Mon 12:00 EST (17:00Z)
        let fri_16 = utc("2024-11-01T20:00:00Z");
        assert_eq!(
            cal.due(fri_16, hrs(4), &[]),
            Some(utc("2024-11-04T17:00:00Z"))
        );
        assert_eq!(
            cal.elapsed(fri_16, utc("2024-11-04T17:00:00Z"), &[]),
            hrs(4)
        );
    }

    #[test]
    fn normal_hours_on_dst_days() {
        let day = |cal: &BusinessCalendar, d: &str| {
            let start = utc(&format!("{d}T00:00:00Z")) - hrs(12);
            cal.elapsed(start, start + hrs(48), &[])
        };
        // open hours on the spring-forward day only
        let mut cal = every_day(Berlin, t(1, 30), t(3, 30));
        cal.holidays = [date(2024, 3, 30), date(2024, 4, 1)].into();
        assert_eq!(day(&cal, "2024-03-31"), hrs(1));
        cal.holidays = [date(2024, 4, 6), date(2024, 4, 8)].into();
        assert_eq!(day(&cal, "2024-04-07"), hrs(2));
        // 02:00-03:00 does not exist that day
        let mut cal = every_day(Berlin, t(2, 0), t(3, 0));
        cal.holidays = [date(2024, 3, 30), date(2024, 4, 1)].into();
        assert_eq!(day(&cal, "2024-03-31"), Duration::zero());
        // opening inside the gap: 02:30 -> 03:00 CEST (01:00Z) until 04:00 CEST (02:00Z)
        let mut cal = every_day(Berlin, t(2, 30), t(4, 0));
        cal.holidays = [date(2024, 3, 30), date(2024, 4, 1)].into();
        assert_eq!(day(&cal, "2024-03-31"), hrs(1));
        assert_eq!(
            cal.due(utc("2024-03-30T12:00:00Z"), mins(30), &[]),
            Some(utc("2024-03-31T01:30:00Z"))
        );
        // fall back: 01:30-03:30 is 3 real hours, 01:30-02:30 (first 02:30) is 1
        let mut cal = every_day(Berlin, t(1, 30), t(3, 30));
        cal.holidays = [date(2024, 10, 26), date(2024, 10, 28)].into();
        assert_eq!(day(&cal, "2024-10-27"), hrs(3));
        let mut cal = every_day(Berlin, t(1, 30), t(2, 30));
        cal.holidays = [date(2024, 10, 26), date(2024, 10, 28)].into();
        assert_eq!(day(&cal, "2024-10-27"), hrs(1));
        // 09:00-17:00 on a DST Sunday is still 8 h
        let mut cal = every_day(Berlin, t(9, 0), t(17, 0));
        cal.holidays = [date(2024, 10, 26), date(2024, 10, 28)].into();
        assert_eq!(day(&cal, "2024-10-27"), hrs(8));

        // New York 2024-03-10: 01:30 EST (06:30Z) .. 03:30 EDT (07:30Z)
        let mut cal = every_day(New_York, t(1, 30), t(3, 30));
        cal.holidays = [date(2024, 3, 9), date(2024, 3, 11)].into();
        assert_eq!(day(&cal, "2024-03-10"), hrs(1));
        // New York 2024-11-03: 00:00 EDT (04:00Z) .. 03:00 EST (08:00Z)
        let mut cal = every_day(New_York, t(0, 0), t(3, 0));
        cal.holidays = [date(2024, 11, 2), date(2024, 11, 4)].into();
        assert_eq!(day(&cal, "2024-11-03"), hrs(4));
        // 00:30 EDT (04:30Z) .. first 01:30 (EDT, 05:30Z)
        let mut cal = every_day(New_York, t(0, 30), t(1, 30));
        cal.holidays = [date(2024, 11, 2), date(2024, 11, 4)].into();
        assert_eq!(day(&cal, "2024-11-03"), hrs(1));
    }

    #[test]
    fn whole_days_every_day_equal_24x7() {
        // 00:00-24:00 every day behaves exactly like around the clock
        let all_day = every_day(New_York, t(0, 0), DayHours::END_OF_DAY);
        let around = BusinessCalendar::around_the_clock(New_York);
        let from = utc("2024-01-03T05:17:00Z");
        let to = utc("2025-01-09T11:00:00Z");
        let pauses = [(utc("2024-03-09T00:00:00Z"), utc("2024-03-12T00:00:00Z"))];
        assert_eq!(
            all_day.elapsed(from, to, &pauses),
            around.elapsed(from, to, &pauses)
        );
        assert_eq!(all_day.elapsed(from, to, &[]), to - from);
    }

    // ---- consistency ----

    fn calendars() -> Vec<BusinessCalendar> {
        let mut holiday_office = office(Berlin);
        holiday_office.holidays = [
            date(2024, 12, 24),
            date(2024, 12, 25),
            date(2024, 12, 26),
            date(2025, 1, 1),
            date(2025, 4, 18),
            date(2025, 4, 21),
        ]
        .into();
        let mut around_holidays = BusinessCalendar::around_the_clock(Berlin);
        around_holidays.holidays = holiday_office.holidays.clone();
        let odd = BusinessCalendar {
            tz: New_York,
            hours: Some([
                Some(DayHours {
                    start: t(1, 30),
                    end: t(3, 30),
                }),
                Some(DayHours {
                    start: t(0, 0),
                    end: DayHours::END_OF_DAY,
                }),
                None,
                Some(DayHours {
                    start: t(22, 45),
                    end: DayHours::END_OF_DAY,
                }),
                Some(DayHours {
                    start: t(8, 0),
                    end: t(18, 0),
                }),
                None,
                Some(DayHours {
                    start: t(0, 0),
                    end: t(2, 30),
                }),
            ]),
            holidays: [date(2024, 11, 28), date(2025, 3, 9)].into(),
        };
        vec![
            BusinessCalendar::around_the_clock(chrono_tz::UTC),
            around_holidays,
            office(Berlin),
            holiday_office,
            odd,
            every_day(chrono_tz::Australia::Lord_Howe, t(2, 0), t(2, 45)),
            office(chrono_tz::Asia::Kolkata),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        #[test]
        fn due_and_elapsed_agree(
            cal_idx in 0usize..7,
            // 2024-01-01 .. 2026-01-01, to the second
            from_s in 1_704_067_200i64..1_767_225_600,
            target_s in 0i64..30 * 86_400,
            pauses in proptest::collection::vec((-5 * 86_400i64..40 * 86_400, 0i64..5 * 86_400), 0..6),
        ) {
            let cal = &calendars()[cal_idx];
            let from = DateTime::from_timestamp(from_s, 0).unwrap();
            let target = Duration::seconds(target_s);
            let pauses: Vec<Span> = pauses
                .iter()
                .map(|&(off, len)| (from + Duration::seconds(off), from + Duration::seconds(off + len)))
                .collect();
            let due = cal.due(from, target, &pauses);
            prop_assert!(due.is_some(), "finite pauses always end");
            let due = due.unwrap();
            prop_assert!(due >= from);
            prop_assert_eq!(cal.elapsed(from, due, &pauses), target);
            if target > Duration::zero() {
                // the earliest such instant
                prop_assert!(cal.elapsed(from, due - Duration::seconds(1), &pauses) < target);
            }
        }

        #[test]
        fn elapsed_is_additive_and_bounded(
            cal_idx in 0usize..7,
            a_s in 1_704_067_200i64..1_767_225_600,
            ab in 0i64..20 * 86_400,
            bc in 0i64..20 * 86_400,
            pauses in proptest::collection::vec((-5 * 86_400i64..40 * 86_400, 0i64..5 * 86_400), 0..6),
        ) {
            let cal = &calendars()[cal_idx];
            let a = DateTime::from_timestamp(a_s, 0).unwrap();
            let b = a + Duration::seconds(ab);
            let c = b + Duration::seconds(bc);
            let pauses: Vec<Span> = pauses
                .iter()
                .map(|&(off, len)| (a + Duration::seconds(off), a + Duration::seconds(off + len)))
                .collect();
            let whole = cal.elapsed(a, c, &pauses);
            prop_assert_eq!(whole, cal.elapsed(a, b, &pauses) + cal.elapsed(b, c, &pauses));
            prop_assert!(whole <= c - a);
            prop_assert!(whole >= Duration::zero());
            prop_assert!(cal.elapsed(a, c, &[]) >= whole);
        }
    }

    // ---- parse_hours ----

    #[test]
    fn parse_hours_round_trips() {
        let v = json!({
            "mon": ["09:00", "17:00"],
            "tue": ["08:30", "24:00"],
            "wed": null,
            "thu": ["00:00", "24:00"],
            "fri": ["13:05", "13:06"],
            "sat": null,
            "sun": null,
        });
        let h = parse_hours(&v).unwrap();
        assert_eq!(
            h[0],
            Some(DayHours {
                start: t(9, 0),
                end: t(17, 0)
            })
        );
        assert!(h[1].unwrap().ends_at_midnight());
        assert_eq!(h[2], None);
        assert_eq!(h[3].unwrap().start, t(0, 0));
        assert_eq!(hours_to_json(&h), v);
        assert_eq!(parse_hours(&hours_to_json(&h)).unwrap(), h);
    }

    #[test]
    fn parse_hours_missing_days_are_closed() {
        let h = parse_hours(&json!({"wed": ["10:00", "12:00"]})).unwrap();
        assert_eq!(h.iter().filter(|d| d.is_some()).count(), 1);
        assert_eq!(
            h[2],
            Some(DayHours {
                start: t(10, 0),
                end: t(12, 0)
            })
        );
        assert_eq!(hours_to_json(&h)["mon"], Value::Null);
        assert_eq!(hours_to_json(&h)["wed"], json!(["10:00", "12:00"]));
    }

    fn parse_err(v: Value) -> String {
        parse_hours(&v).unwrap_err()
    }

    #[test]
    fn parse_hours_rejects_bad_input() {
        let e = parse_err(json!({"mon": ["9am", "17:00"]}));
        assert!(
            e.contains("mon") && e.contains("9am") && e.contains("HH:MM"),
            "{e}"
        );
        let e = parse_err(json!({"tue": ["09:00", "25:00"]}));
        assert!(e.contains("tue") && e.contains("25:00"), "{e}");
        let e = parse_err(json!({"wed": ["09:60", "17:00"]}));
        assert!(e.contains("wed") && e.contains("09:60"), "{e}");
        let e = parse_err(json!({"thu": ["9:00", "17:00"]}));
        assert!(e.contains("thu") && e.contains("9:00"), "{e}");
        let e = parse_err(json!({"fri": ["17:00", "09:00"]}));
        assert!(e.contains("fri") && e.contains("after"), "{e}");
        let e = parse_err(json!({"fri": ["09:00", "09:00"]}));
        assert!(e.contains("fri") && e.contains("after"), "{e}");
        let e = parse_err(json!({"sat": ["09:00", "00:00"]}));
        assert!(e.contains("sat") && e.contains("24:00"), "{e}");
        let e = parse_err(json!({"sun": ["24:00", "24:00"]}));
        assert!(e.contains("sun") && e.contains("opening"), "{e}");
        let e = parse_err(json!({"mon": null, "tue": null}));
        assert!(e.contains("at least one open day"), "{e}");
        let e = parse_err(json!({}));
        assert!(e.contains("at least one open day"), "{e}");
        let e = parse_err(json!({"mnday": ["09:00", "17:00"]}));
        assert!(e.contains("mnday") && e.contains("unknown day"), "{e}");
        let e = parse_err(json!({"mon": ["09:00"]}));
        assert!(e.contains("mon") && e.contains("expected"), "{e}");
        let e = parse_err(json!({"mon": "09:00-17:00"}));
        assert!(e.contains("mon") && e.contains("expected"), "{e}");
        let e = parse_err(json!({"mon": [9, 17]}));
        assert!(e.contains("mon") && e.contains("expected"), "{e}");
        let e = parse_err(json!(["09:00", "17:00"]));
        assert!(e.contains("object"), "{e}");
        let e = parse_err(json!({"mon": ["09:00", "17:00"], "tue": ["9", "17:00"]}));
        assert!(e.contains("tue"), "{e}");
        let e = parse_err(json!({"mon": ["٠٩:٠٠", "17:00"]}));
        assert!(e.contains("mon"), "{e}");
    }

    // ---- state ----

    #[test]
    fn state_at_the_edges() {
        let target = hrs(4);
        // 75% of 4 h = 3 h
        assert_eq!(
            state_of(hrs(3) - Duration::nanoseconds(1), target, 75),
            SlaState::Ok
        );
        assert_eq!(state_of(hrs(3), target, 75), SlaState::Warning);
        assert_eq!(
            state_of(target - Duration::nanoseconds(1), target, 75),
            SlaState::Warning
        );
        assert_eq!(state_of(target, target, 75), SlaState::Breached);
        assert_eq!(state_of(target + hrs(1), target, 75), SlaState::Breached);
        assert_eq!(state_of(Duration::zero(), target, 75), SlaState::Ok);
        // thresholds that are not whole seconds: 33% of 1 s = 330 ms
        let one = Duration::seconds(1);
        assert_eq!(state_of(Duration::milliseconds(329), one, 33), SlaState::Ok);
        assert_eq!(
            state_of(Duration::milliseconds(330), one, 33),
            SlaState::Warning
        );
        // 1% and 99%
        assert_eq!(
            state_of(Duration::minutes(59), Duration::minutes(100) * 60, 1),
            SlaState::Ok
        );
        assert_eq!(
            state_of(hrs(1), Duration::minutes(100) * 60, 1),
            SlaState::Warning
        );
        assert_eq!(
            state_of(Duration::minutes(98), Duration::minutes(100), 99),
            SlaState::Ok
        );
        assert_eq!(
            state_of(Duration::minutes(99), Duration::minutes(100), 99),
            SlaState::Warning
        );
        // zero target: breached at once
        assert_eq!(
            state_of(Duration::zero(), Duration::zero(), 80),
            SlaState::Breached
        );
        // huge durations do not overflow
        assert_eq!(
            state_of(Duration::MAX - hrs(1), Duration::MAX, 99),
            SlaState::Warning
        );
    }

    #[test]
    fn sla_state_names_and_order() {
        for s in [SlaState::Ok, SlaState::Warning, SlaState::Breached] {
            assert_eq!(SlaState::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), json!(s.as_str()));
            assert_eq!(
                serde_json::from_value::<SlaState>(json!(s.as_str())).unwrap(),
                s
            );
        }
        assert_eq!(SlaState::Warning.as_str(), "warning");
        assert_eq!(SlaState::parse("Breached"), None);
        assert_eq!(SlaState::parse(""), None);
        assert!(SlaState::Ok < SlaState::Warning && SlaState::Warning < SlaState::Breached);
        assert_eq!(
            [SlaState::Ok, SlaState::Breached, SlaState::Warning]
                .iter()
                .max(),
            Some(&SlaState::Breached)
        );
    }
}
