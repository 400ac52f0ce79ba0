//! Billing periods of recurring invoices: anchored to the template's start
//! date, clamped at month end, never drifting.
//!
//! Period `k` (from 0) starts at `anchor + k × interval`, always computed
//! from the anchor, never from the previous period: a template starting on
//! January 31 bills February 28 (29), March 31, April 30, and is back on the
//! 31st whenever the month has one. Dates are calendar dates in the tenant's
//! time zone, so daylight-saving changes cannot move them.

use chrono::{Datelike, Duration, NaiveDate};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::kernel::money::round_money;

/// How often a template bills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "unit", content = "every", rename_all = "snake_case")]
pub enum Frequency {
    Days(u32),
    Weeks(u32),
    Months(u32),
    Years(u32),
}

impl Frequency {
    pub const WEEKLY: Frequency = Frequency::Weeks(1);
    pub const BIWEEKLY: Frequency = Frequency::Weeks(2);
    pub const MONTHLY: Frequency = Frequency::Months(1);
    pub const QUARTERLY: Frequency = Frequency::Months(3);
    pub const SEMIANNUALLY: Frequency = Frequency::Months(6);
    pub const YEARLY: Frequency = Frequency::Years(1);

    /// `None` for an interval of zero or one too large to be meant.
    pub fn validated(self) -> Option<Frequency> {
        let (n, max) = match self {
            Frequency::Days(n) => (n, 3660),
            Frequency::Weeks(n) => (n, 520),
            Frequency::Months(n) => (n, 120),
            Frequency::Years(n) => (n, 10),
        };
        (1..=max).contains(&n).then_some(self)
    }
}

/// `date` moved by `months` calendar months, its day clamped to the
/// target month's length.
pub fn add_months_clamped(date: NaiveDate, months: i64) -> Option<NaiveDate> {
    months_on_day(date, months, date.day())
}

/// The month `months` calendar months from `date`'s, on `day` clamped to
/// that month's length.
fn months_on_day(date: NaiveDate, months: i64, day: u32) -> Option<NaiveDate> {
    let total = date.year() as i64 * 12 + date.month0() as i64 + months;
    let year = i32::try_from(total.div_euclid(12)).ok()?;
    let month = total.rem_euclid(12) as u32 + 1;
    let last = last_day_of_month(year, month)?;
    NaiveDate::from_ymd_opt(year, month, day.min(last))
}

fn last_day_of_month(year: i32, month: u32) -> Option<u32> {
    let first_of_next = if month == 12 {
        NaiveDate::from_ymd_opt(year.checked_add(1)?, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)?
    };
    Some(first_of_next.pred_opt()?.day())
}

/// When a template's periods start. Period `k`, from `cycle` on, starts
/// `k - cycle` intervals after `anchor`, always computed from the anchor;
/// in months and years it falls on `day`, clamped to the month's length.
///
/// A template's schedule starts at cycle 0 on its start date (`new`). A
/// change of frequency starts a new schedule at the first period not yet
/// billed (`rebased`), keeping the day of month, so a template from 31
/// January that turns quarterly on 28 February bills 31 May next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub anchor: NaiveDate,
    pub day: u32,
    pub cycle: u32,
    pub frequency: Frequency,
}

impl Schedule {
    pub fn new(start: NaiveDate, frequency: Frequency) -> Schedule {
        Schedule {
            anchor: start,
            day: start.day(),
            cycle: 0,
            frequency,
        }
    }

    /// The first day of period `k` (`None` before the schedule's cycle).
    pub fn start_of(&self, k: u32) -> Option<NaiveDate> {
        let j = i64::from(k.checked_sub(self.cycle)?);
        match self.frequency {
            Frequency::Days(n) => self
                .anchor
                .checked_add_signed(Duration::days(i64::from(n) * j)),
            Frequency::Weeks(n) => self
                .anchor
                .checked_add_signed(Duration::days(7 * i64::from(n) * j)),
            Frequency::Months(n) => months_on_day(self.anchor, i64::from(n) * j, self.day),
            Frequency::Years(n) => months_on_day(self.anchor, 12 * i64::from(n) * j, self.day),
        }
    }

    /// Period `k` as `[start, end)`: its end is the next period's start.
    pub fn period(&self, k: u32) -> Option<(NaiveDate, NaiveDate)> {
        Some((self.start_of(k)?, self.start_of(k.checked_add(1)?)?))
    }

    /// The last day of period `k` (the day before the next one starts).
    pub fn last_day(&self, k: u32) -> Option<NaiveDate> {
        self.start_of(k.checked_add(1)?)?.pred_opt()
    }

    /// The schedule that bills every `frequency` from period `k` on, where
    /// period `k` starts as it does now. Months and years keep this
    /// schedule's day of month (a period clamped to 28 February still
    /// belongs to the 31st); after days or weeks the day is period `k`'s.
    pub fn rebased(&self, k: u32, frequency: Frequency) -> Option<Schedule> {
        let anchor = self.start_of(k)?;
        let day = match self.frequency {
            Frequency::Months(_) | Frequency::Years(_) => self.day,
            Frequency::Days(_) | Frequency::Weeks(_) => anchor.day(),
        };
        Some(Schedule {
            anchor,
            day,
            cycle: k,
            frequency,
        })
    }

    /// The periods due on `as_of` (those starting on or before it), from
    /// period `from` on, at most `limit`, oldest first, stopping at `end` (a
    /// last billing date, inclusive) or after `max_cycles` periods in all.
    pub fn due(
        &self,
        from: u32,
        as_of: NaiveDate,
        end: Option<NaiveDate>,
        max_cycles: Option<u32>,
        limit: usize,
    ) -> Vec<(u32, NaiveDate)> {
        let mut out = Vec::new();
        let mut k = from;
        while out.len() < limit {
            if max_cycles.is_some_and(|m| k >= m) {
                break;
            }
            let Some(start) = self.start_of(k) else {
                break;
            };
            if start > as_of || end.is_some_and(|e| start > e) {
                break;
            }
            out.push((k, start));
            k = match k.checked_add(1) {
                Some(n) => n,
                None => break,
            };
        }
        out
    }
}

/// The first day of period `k` of a template anchored at `anchor`.
pub fn period_start(anchor: NaiveDate, f: Frequency, k: u32) -> Option<NaiveDate> {
    Schedule::new(anchor, f).start_of(k)
}

/// Period `k` as `[start, end)`: its end is the next period's start.
pub fn period(anchor: NaiveDate, f: Frequency, k: u32) -> Option<(NaiveDate, NaiveDate)> {
    Schedule::new(anchor, f).period(k)
}

/// The period `[start, end)` of a template anchored at `anchor` that
/// contains `date`; `None` before the anchor.
pub fn period_containing(
    anchor: NaiveDate,
    f: Frequency,
    date: NaiveDate,
) -> Option<(NaiveDate, NaiveDate)> {
    if date < anchor {
        return None;
    }
    let months = (date.year() as i64 * 12 + date.month0() as i64)
        - (anchor.year() as i64 * 12 + anchor.month0() as i64);
    let days = (date - anchor).num_days();
    // An estimate at or below the period's index (month-end clamping can
    // only put a start earlier than the plain arithmetic), then forward.
    let estimate = match f {
        Frequency::Days(n) => days / i64::from(n),
        Frequency::Weeks(n) => days / (7 * i64::from(n)),
        Frequency::Months(n) => (months - 1) / i64::from(n),
        Frequency::Years(n) => (months - 1) / (12 * i64::from(n)),
    };
    let mut k = u32::try_from(estimate.max(0)).ok()?;
    loop {
        let (start, end) = period(anchor, f, k)?;
        if start > date {
            return None;
        }
        if date < end {
            return Some((start, end));
        }
        k = k.checked_add(1)?;
    }
}

/// [`Schedule::due`] of the schedule anchored at `anchor`.
pub fn due_periods(
    anchor: NaiveDate,
    f: Frequency,
    from: u32,
    as_of: NaiveDate,
    end: Option<NaiveDate>,
    max_cycles: Option<u32>,
    limit: usize,
) -> Vec<(u32, NaiveDate)> {
    Schedule::new(anchor, f).due(from, as_of, end, max_cycles, limit)
}

/// The part of `amount` for service from `from` to the end of the period
/// `[start, end)`, by days, rounded to `minor` digits. A `from` outside the
/// period gives the whole amount (on or before `start`) or nothing.
pub fn prorate(
    amount: Decimal,
    start: NaiveDate,
    end: NaiveDate,
    from: NaiveDate,
    minor: u32,
) -> Decimal {
    if from <= start {
        return amount;
    }
    if from >= end {
        return Decimal::ZERO;
    }
    let days = Decimal::from((end - start).num_days());
    let used = Decimal::from((end - from).num_days());
    round_money(amount * used / days, minor)
}

/// A price after escalation: raised by `percent` every `every` cycles,
/// compounding, rounded to `minor` digits at each step (as each invoice
/// shows it). Cycle 0 is the base price.
pub fn escalated(base: Decimal, percent: Decimal, every: u32, cycle: u32, minor: u32) -> Decimal {
    if every == 0 || percent.is_zero() {
        return base;
    }
    let steps = cycle / every;
    let factor = Decimal::ONE + percent / Decimal::ONE_HUNDRED;
    (0..steps).fold(base, |price, _| round_money(price * factor, minor))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn every_day_lies_in_the_period_that_contains_it() {
        for (anchor, f) in [
            (d(2026, 1, 31), Frequency::MONTHLY),
            (d(2026, 8, 31), Frequency::QUARTERLY),
            (d(2024, 2, 29), Frequency::YEARLY),
            (d(2026, 3, 15), Frequency::BIWEEKLY),
            (d(2026, 3, 15), Frequency::Days(10)),
        ] {
            assert_eq!(
                period_containing(anchor, f, anchor.pred_opt().unwrap()),
                None
            );
            for k in 0..30 {
                let (start, end) = period(anchor, f, k).unwrap();
                let mut day = start;
                while day < end {
                    assert_eq!(
                        period_containing(anchor, f, day),
                        Some((start, end)),
                        "{anchor} {f:?} {day}"
                    );
                    day = day.succ_opt().unwrap();
                }
            }
        }
    }

    #[test]
    fn month_end_anchor_is_clamped_and_comes_back() {
        let a = d(2024, 1, 31);
        let starts: Vec<NaiveDate> = (0..6)
            .map(|k| period_start(a, Frequency::MONTHLY, k).unwrap())
            .collect();
        assert_eq!(
            starts,
            [
                d(2024, 1, 31),
                d(2024, 2, 29),
                d(2024, 3, 31),
                d(2024, 4, 30),
                d(2024, 5, 31),
                d(2024, 6, 30)
            ]
        );
        assert_eq!(
            period_start(a, Frequency::MONTHLY, 13).unwrap(),
            d(2025, 2, 28)
        );
        assert_eq!(
            period_start(d(2024, 2, 29), Frequency::YEARLY, 1).unwrap(),
            d(2025, 2, 28)
        );
        assert_eq!(
            period_start(d(2024, 2, 29), Frequency::YEARLY, 4).unwrap(),
            d(2028, 2, 29)
        );
    }

    #[test]
    fn every_frequency() {
        let a = d(2026, 1, 15);
        let cases = [
            (Frequency::WEEKLY, d(2026, 1, 22)),
            (Frequency::BIWEEKLY, d(2026, 1, 29)),
            (Frequency::MONTHLY, d(2026, 2, 15)),
            (Frequency::QUARTERLY, d(2026, 4, 15)),
            (Frequency::SEMIANNUALLY, d(2026, 7, 15)),
            (Frequency::YEARLY, d(2027, 1, 15)),
            (Frequency::Days(10), d(2026, 1, 25)),
            (Frequency::Weeks(3), d(2026, 2, 5)),
            (Frequency::Months(5), d(2026, 6, 15)),
            (Frequency::Years(2), d(2028, 1, 15)),
        ];
        for (f, next) in cases {
            assert_eq!(period(a, f, 0).unwrap(), (a, next), "{f:?}");
        }
        assert!(Frequency::Months(0).validated().is_none());
        assert!(Frequency::Years(11).validated().is_none());
    }

    #[test]
    fn due_periods_respect_limits_and_order() {
        let a = d(2026, 1, 31);
        let due = due_periods(a, Frequency::MONTHLY, 0, d(2026, 4, 30), None, None, 100);
        assert_eq!(
            due,
            [
                (0, d(2026, 1, 31)),
                (1, d(2026, 2, 28)),
                (2, d(2026, 3, 31)),
                (3, d(2026, 4, 30))
            ]
        );
        assert_eq!(
            due_periods(a, Frequency::MONTHLY, 2, d(2026, 4, 29), None, None, 100),
            [(2, d(2026, 3, 31))]
        );
        assert_eq!(
            due_periods(a, Frequency::MONTHLY, 0, d(2027, 1, 1), None, Some(2), 100).len(),
            2
        );
        assert_eq!(
            due_periods(
                a,
                Frequency::MONTHLY,
                0,
                d(2027, 1, 1),
                Some(d(2026, 3, 1)),
                None,
                100
            )
            .len(),
            2
        );
        assert_eq!(
            due_periods(a, Frequency::MONTHLY, 0, d(2027, 1, 1), None, None, 3).len(),
            3
        );
        assert!(due_periods(a, Frequency::MONTHLY, 0, d(2026, 1, 30), None, None, 100).is_empty());
    }

    #[test]
    fn a_rebased_schedule_keeps_billed_periods_and_the_day_of_month() {
        let s = Schedule::new(d(2025, 12, 31), Frequency::MONTHLY);
        // Quarterly from cycle 2 (28 February, clamped from the 31st).
        let q = s.rebased(2, Frequency::QUARTERLY).unwrap();
        let starts: Vec<NaiveDate> = (2..7).map(|k| q.start_of(k).unwrap()).collect();
        assert_eq!(
            starts,
            [
                d(2026, 2, 28),
                d(2026, 5, 31),
                d(2026, 8, 31),
                d(2026, 11, 30),
                d(2027, 2, 28)
            ]
        );
        assert_eq!(q.start_of(1), None, "before the new schedule");
        assert_eq!(q.last_day(2), Some(d(2026, 5, 30)));
        // From weeks to months: the day is the period's own.
        let w = Schedule::new(d(2026, 1, 5), Frequency::WEEKLY);
        let m = w.rebased(3, Frequency::MONTHLY).unwrap();
        assert_eq!(m.start_of(3), Some(d(2026, 1, 26)));
        assert_eq!(m.start_of(4), Some(d(2026, 2, 26)));
        // Rebasing at cycle 0 is the schedule a new template would have.
        for f in [Frequency::WEEKLY, Frequency::MONTHLY, Frequency::Years(2)] {
            assert_eq!(s.rebased(0, f), Some(Schedule::new(d(2025, 12, 31), f)));
        }
        assert_eq!(
            q.due(2, d(2026, 9, 1), None, None, 100),
            [
                (2, d(2026, 2, 28)),
                (3, d(2026, 5, 31)),
                (4, d(2026, 8, 31))
            ]
        );
    }

    #[test]
    fn proration_by_days() {
        // April has 30 days; service from the 16th uses 15 of them.
        assert_eq!(
            prorate(
                dec!(100.00),
                d(2026, 4, 1),
                d(2026, 5, 1),
                d(2026, 4, 16),
                2
            ),
            dec!(50.00)
        );
        // 10 of 31 days: 32.258... rounds to 32.26.
        assert_eq!(
            prorate(
                dec!(100.00),
                d(2026, 3, 1),
                d(2026, 4, 1),
                d(2026, 3, 22),
                2
            ),
            dec!(32.26)
        );
        assert_eq!(
            prorate(dec!(100.00), d(2026, 3, 1), d(2026, 4, 1), d(2026, 2, 1), 2),
            dec!(100.00)
        );
        assert_eq!(
            prorate(dec!(100.00), d(2026, 3, 1), d(2026, 4, 1), d(2026, 4, 1), 2),
            dec!(0)
        );
        assert_eq!(
            prorate(dec!(1000), d(2026, 3, 1), d(2026, 4, 1), d(2026, 3, 22), 0),
            dec!(323)
        );
    }

    #[test]
    fn escalation_compounds_per_step_with_rounding() {
        assert_eq!(escalated(dec!(100.00), dec!(5), 12, 11, 2), dec!(100.00));
        assert_eq!(escalated(dec!(100.00), dec!(5), 12, 12, 2), dec!(105.00));
        assert_eq!(escalated(dec!(100.00), dec!(5), 12, 24, 2), dec!(110.25));
        assert_eq!(escalated(dec!(99.99), dec!(3.5), 1, 3, 2), dec!(110.86));
        assert_eq!(escalated(dec!(100.00), dec!(5), 0, 24, 2), dec!(100.00));
    }

    proptest! {
        /// Ten years of monthly periods from any anchor: each start is in its
        /// own calendar month, on the anchor's day or the month's last day,
        /// periods tile without gaps, and the 120th lands where the anchor says.
        #[test]
        fn monthly_periods_never_drift(y in 2000i32..2090, m in 1u32..=12, day in 1u32..=31) {
            let Some(anchor) = NaiveDate::from_ymd_opt(y, m, day) else { return Ok(()) };
            let mut prev_end = anchor;
            for k in 0..120u32 {
                let (start, end) = period(anchor, Frequency::MONTHLY, k).unwrap();
                prop_assert_eq!(start, prev_end);
                prop_assert!(end > start);
                let months = (start.year() - anchor.year()) * 12 + start.month() as i32 - anchor.month() as i32;
                prop_assert_eq!(months, k as i32);
                let last = last_day_of_month(start.year(), start.month()).unwrap();
                prop_assert_eq!(start.day(), anchor.day().min(last));
                prev_end = end;
            }
        }

        /// Day and week periods are exactly their length apart.
        #[test]
        fn fixed_length_periods(n in 1u32..60, k in 0u32..500) {
            let a = NaiveDate::from_ymd_opt(2026, 3, 8).unwrap();
            let (s, e) = period(a, Frequency::Days(n), k).unwrap();
            prop_assert_eq!((e - s).num_days(), n as i64);
            let (s, e) = period(a, Frequency::Weeks(n), k).unwrap();
            prop_assert_eq!((e - s).num_days(), 7 * n as i64);
        }

        /// Proration never exceeds the amount and grows with the days used.
        #[test]
        fn proration_is_bounded_and_monotonic(cents in 0i64..10_000_000, offset in 0i64..31) {
            let amount = Decimal::new(cents, 2);
            let (s, e) = (NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(), NaiveDate::from_ymd_opt(2026, 2, 1).unwrap());
            let a = prorate(amount, s, e, s + Duration::days(offset), 2);
            let b = prorate(amount, s, e, s + Duration::days(offset + 1), 2);
            prop_assert!(a <= amount && b <= a && b >= Decimal::ZERO);
        }
    }
}
