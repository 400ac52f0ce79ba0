//! The calendar dates the API accepts, and checked arithmetic on them.
//!
//! Every date a request carries (body, query string or path) must lie in
//! [`MIN`]..=[`MAX`], 1900-01-01 to 9999-12-31: chrono reads years up to
//! ±262143, PostgreSQL stores fewer, and adding days to the far end of
//! chrono's range panics. Request types read their dates through
//! [`de`], [`de_opt`] or [`nullable`] (`#[serde(deserialize_with = ...)]`),
//! whose error starts with [`OUT_OF_RANGE`]; the API's extractors turn that
//! error into a 422 `validation_failed` naming the field. A test below fails
//! when a request type reads a `NaiveDate` without them.
//!
//! Arithmetic on request-derived dates goes through [`add_days`] (or
//! chrono's `checked_*`), never `+ Duration`.

use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Deserializer};

use crate::kernel::validation::ValidationErrors;

/// The first date accepted.
pub const MIN: NaiveDate = NaiveDate::from_ymd_opt(1900, 1, 1).expect("valid date");
/// The last date accepted.
pub const MAX: NaiveDate = NaiveDate::from_ymd_opt(9999, 12, 31).expect("valid date");

/// The start of the serde error for a date outside [`MIN`]..=[`MAX`]; the
/// API's extractors recognise it.
pub const OUT_OF_RANGE: &str = "date out of range";

/// Whether `d` is a date the API accepts.
pub fn in_range(d: NaiveDate) -> bool {
    (MIN..=MAX).contains(&d)
}

/// The message for a date outside the range.
pub fn range_message(field: &str) -> String {
    format!("{field} must be a date from {MIN} to {MAX}")
}

/// Adds `field` to `v` unless `d` is in range.
pub fn check(v: &mut ValidationErrors, field: &str, d: NaiveDate) {
    if !in_range(d) {
        v.add(field, "out_of_range", range_message(field));
    }
}

/// `d` plus `days`, or `None` when that leaves the accepted range (never
/// panics).
pub fn add_days(d: NaiveDate, days: i64) -> Option<NaiveDate> {
    let delta = Duration::try_days(days)?;
    d.checked_add_signed(delta).filter(|d| in_range(*d))
}

fn checked<E: serde::de::Error>(d: NaiveDate) -> Result<NaiveDate, E> {
    if in_range(d) {
        Ok(d)
    } else {
        Err(E::custom(format!(
            "{OUT_OF_RANGE}: {d} is not from {MIN} to {MAX}"
        )))
    }
}

/// A required date in the accepted range.
pub fn de<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
    checked(NaiveDate::deserialize(d)?)
}

/// An optional date in the accepted range (use with `#[serde(default)]`).
pub fn de_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
    Option::<NaiveDate>::deserialize(d)?
        .map(checked)
        .transpose()
}

/// A PATCH date in the accepted range: absent `None` (with
/// `#[serde(default)]`), `null` `Some(None)`, as [`crate::kernel::patch::nullable`].
pub fn nullable<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<NaiveDate>>, D::Error> {
    de_opt(d).map(Some)
}

/// The calendar date in `tz` at `now`: what "today" means for a tenant's
/// billing and due dates.
pub fn local_date(now: chrono::DateTime<chrono::Utc>, tz: chrono_tz::Tz) -> NaiveDate {
    now.with_timezone(&tz).date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_dates_across_dst_changes() {
        use chrono::{DateTime, Utc};
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let ny: chrono_tz::Tz = "America/New_York".parse().unwrap();
        let berlin: chrono_tz::Tz = "Europe/Berlin".parse().unwrap();
        let auckland: chrono_tz::Tz = "Pacific/Auckland".parse().unwrap();
        for (instant, tz, want) in [
            ("2026-03-08T04:59:59Z", ny, d(2026, 3, 7)),
            ("2026-03-08T05:00:00Z", ny, d(2026, 3, 8)),
            ("2026-11-01T03:59:59Z", ny, d(2026, 10, 31)),
            ("2026-11-01T04:00:00Z", ny, d(2026, 11, 1)),
            ("2026-03-28T22:59:59Z", berlin, d(2026, 3, 28)),
            ("2026-03-28T23:00:00Z", berlin, d(2026, 3, 29)),
            ("2026-10-24T22:00:00Z", berlin, d(2026, 10, 25)),
            ("2026-04-04T10:59:59Z", auckland, d(2026, 4, 4)),
            ("2026-04-04T11:00:00Z", auckland, d(2026, 4, 5)),
            ("2026-09-26T11:59:59Z", auckland, d(2026, 9, 26)),
            ("2026-09-26T12:00:00Z", auckland, d(2026, 9, 27)),
        ] {
            assert_eq!(local_date(at(instant), tz), want, "{instant} in {tz}");
        }
    }

    #[derive(Deserialize, Debug)]
    struct R {
        #[serde(deserialize_with = "de")]
        a: NaiveDate,
        #[serde(default, deserialize_with = "de_opt")]
        b: Option<NaiveDate>,
        #[serde(default, deserialize_with = "nullable")]
        c: Option<Option<NaiveDate>>,
    }

    #[test]
    fn range_is_enforced_when_read() {
        let ok: R = serde_json::from_str(r#"{"a": "1900-01-01", "c": null}"#).unwrap();
        assert_eq!((ok.a, ok.b, ok.c), (MIN, None, Some(None)));
        let ok: R = serde_json::from_str(r#"{"a": "9999-12-31", "b": "2026-01-01"}"#).unwrap();
        assert_eq!(ok.c, None);
        for bad in [
            r#"{"a": "+262142-12-31"}"#,
            r#"{"a": "-10000-01-01"}"#,
            r#"{"a": "1899-12-31"}"#,
            r#"{"a": "2000-01-01", "b": "0000-01-01"}"#,
            r#"{"a": "2000-01-01", "c": "+10000-01-01"}"#,
        ] {
            let e = serde_json::from_str::<R>(bad).unwrap_err();
            assert!(e.to_string().starts_with(OUT_OF_RANGE), "{bad}: {e}");
        }
    }

    #[test]
    fn add_days_never_panics() {
        assert_eq!(add_days(MAX, 1), None);
        assert_eq!(add_days(MIN, -1), None);
        assert_eq!(add_days(NaiveDate::MAX, 1), None);
        assert_eq!(add_days(MIN, i64::MAX), None);
        assert_eq!(add_days(MIN, 30), NaiveDate::from_ymd_opt(1900, 1, 31));
    }

    /// Every request type (a struct deriving `Deserialize` in `domain` or
    /// `api`) reads its `NaiveDate` fields through this module, so a new
    /// route inherits the range.
    #[test]
    fn request_types_read_dates_through_this_module() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut missing = Vec::new();
        for dir in ["domain/src", "api/src"] {
            let mut stack = vec![root.join(dir)];
            while let Some(p) = stack.pop() {
                for entry in std::fs::read_dir(&p).unwrap() {
                    let path = entry.unwrap().path();
                    if path.is_dir() {
                        stack.push(path);
                    } else if path.extension().is_some_and(|e| e == "rs") {
                        let src = std::fs::read_to_string(&path).unwrap();
                        missing.extend(
                            unchecked_date_fields(&src)
                                .into_iter()
                                .map(|f| format!("{}: {f}", path.display())),
                        );
                    }
                }
            }
        }
        assert!(
            missing.is_empty(),
            "read these through nestogy_domain::kernel::dates:\n{}",
            missing.join("\n")
        );
    }

    /// Fields of `Deserialize` structs typed `NaiveDate` (bare, optional or
    /// nullable) without a `dates::` deserializer.
    fn unchecked_date_fields(src: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut in_request = false;
        let mut pending_derive = false;
        let mut attrs = String::new();
        let mut cfg_test = false;
        for line in src.lines() {
            let t = line.trim();
            if t.starts_with("#[cfg(test)]") {
                cfg_test = true;
            }
            if cfg_test {
                continue;
            }
            if t.starts_with("#[derive(") {
                pending_derive = t.contains("Deserialize");
                continue;
            }
            if t.starts_with("pub struct")
                || t.starts_with("struct")
                || t.starts_with("pub(crate) struct")
            {
                in_request = pending_derive && t.ends_with('{');
                pending_derive = false;
                attrs.clear();
                continue;
            }
            if t.starts_with("pub enum") || t.starts_with("enum") {
                pending_derive = false;
            }
            if !in_request {
                continue;
            }
            if t == "}" {
                in_request = false;
                continue;
            }
            if t.starts_with("#[") {
                attrs.push_str(t);
                continue;
            }
            if t.starts_with("//") {
                continue;
            }
            let ty = t
                .split_once(':')
                .map(|(_, ty)| ty.trim().replace("chrono::NaiveDate", "NaiveDate"))
                .unwrap_or_default();
            let dated = [
                "NaiveDate,",
                "Option<NaiveDate>,",
                "Option<Option<NaiveDate>>,",
            ]
            .iter()
            .any(|d| ty.ends_with(d));
            if dated && !attrs.contains("dates::") {
                out.push(t.to_owned());
            }
            attrs.clear();
        }
        out
    }
}
