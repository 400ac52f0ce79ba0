//! Money, dates and times as the user's company writes them: its locale
//! (the documents' own rules, [`nestogy_domain::billing::locale`]) and its
//! IANA time zone. Every page formats through a [`Fmt`], never by hand.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use nestogy_domain::billing::locale::{self, Locale};
use nestogy_domain::identity::company::Company;
use rust_decimal::Decimal;

/// The company's way of writing things.
#[derive(Debug, Clone, Copy)]
pub struct Fmt {
    pub locale: Locale,
    pub zone: Tz,
}

impl Default for Fmt {
    fn default() -> Self {
        Fmt {
            locale: Locale::EnUs,
            zone: chrono_tz::UTC,
        }
    }
}

impl Fmt {
    pub fn of(company: &Company) -> Self {
        Fmt {
            locale: Locale::parse(&company.locale),
            zone: company.zone(),
        }
    }

    /// From a locale's and a time zone's names (UTC for an unknown zone).
    pub fn from_names(locale: &str, time_zone: &str) -> Self {
        Fmt {
            locale: Locale::parse(locale),
            zone: time_zone.parse().unwrap_or(chrono_tz::UTC),
        }
    }

    /// `$1,234.56`, `1.234,56 €`.
    pub fn money(&self, amount: Decimal, currency: &str) -> String {
        locale::format_money(amount, currency, self.locale)
    }

    /// A money figure a report sent as text (`"1234.50"`); unreadable text
    /// is shown as it came.
    pub fn money_text(&self, amount: &str, currency: &str) -> String {
        amount
            .parse::<Decimal>()
            .map(|d| self.money(d, currency))
            .unwrap_or_else(|_| amount.to_owned())
    }

    /// `Nov 25, 2026`, `25.11.2026`.
    pub fn date(&self, d: NaiveDate) -> String {
        locale::format_date(d, self.locale)
    }

    /// An instant in the company's zone: the date, the time (`3:05 PM` in
    /// en-US, `15:05` elsewhere) and the zone's abbreviation.
    pub fn datetime(&self, t: DateTime<Utc>) -> String {
        let local = t.with_timezone(&self.zone);
        let time = match self.locale {
            Locale::EnUs => local.format("%-I:%M %p").to_string(),
            _ => local.format("%H:%M").to_string(),
        };
        format!(
            "{} {time} {}",
            self.date(local.date_naive()),
            local.format("%Z")
        )
    }

    /// The date in the company's zone at `now`.
    pub fn today(&self, now: DateTime<Utc>) -> NaiveDate {
        now.with_timezone(&self.zone).date_naive()
    }
}

/// A code the API speaks (`in_progress`, `waiting_on_client`) as people
/// read it: "In progress", "Waiting on client". Form values keep the code.
pub fn label(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    for (i, ch) in code.chars().enumerate() {
        match ch {
            '_' => out.push(' '),
            c if i == 0 => out.extend(c.to_uppercase()),
            c => out.push(c),
        }
    }
    out
}

/// How far `t` is from `now`, in words: "in 3 h", "2 d ago", "in 5 min".
pub fn relative(now: DateTime<Utc>, t: DateTime<Utc>) -> String {
    let secs = (t - now).num_seconds();
    let n = secs.unsigned_abs();
    let span = match n {
        0..=59 => return "now".to_owned(),
        60..=5_399 => format!("{} min", n / 60),
        5_400..=172_799 => format!("{} h", (n + 1_800) / 3_600),
        _ => format!("{} d", (n + 43_200) / 86_400),
    };
    if secs > 0 {
        format!("in {span}")
    } else {
        format!("{span} ago")
    }
}

/// A length of time in minutes as people read it: "35 min",
/// "1 h 05 min", and from two days on "3 d 04 h". Time entries, timers and
/// SLA clocks all say it this way (the console's script too, in
/// `static/app.js`'s `duration`).
pub fn duration(minutes: i64) -> String {
    let m = minutes.max(0);
    match m {
        0..=59 => format!("{m} min"),
        60..=2_879 => format!("{} h {:02} min", m / 60, m % 60),
        _ => format!("{} d {:02} h", m / 1_440, m % 1_440 / 60),
    }
}

/// Whole minutes from `from` to `to`: ahead rounded up (a deadline 20 s
/// away is "1 min" away); reached or behind negative, rounded down but at
/// least one (a deadline passed 20 s ago is "1 min" past).
pub fn minutes_until(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    let secs = (to - from).num_seconds();
    if secs > 0 {
        (secs + 59) / 60
    } else {
        -(-secs / 60).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn formats_in_the_companys_locale_and_zone() {
        let berlin = Fmt {
            locale: Locale::DeDe,
            zone: chrono_tz::Europe::Berlin,
        };
        let t = Utc.with_ymd_and_hms(2026, 3, 31, 22, 30, 0).unwrap();
        assert_eq!(berlin.datetime(t), "01.04.2026 00:30 CEST");
        assert_eq!(
            berlin.today(t),
            NaiveDate::from_ymd_opt(2026, 4, 1).unwrap()
        );
        assert_eq!(
            berlin.money(Decimal::new(123_456, 2), "EUR"),
            "1.234,56\u{a0}€"
        );
        let us = Fmt::default();
        assert_eq!(us.datetime(t), "Mar 31, 2026 10:30 PM UTC");
        assert_eq!(us.money_text("1234.5", "USD"), "$1,234.50");
        assert_eq!(us.money_text("n/a", "USD"), "n/a");
    }

    #[test]
    fn codes_read_as_words() {
        assert_eq!(label("in_progress"), "In progress");
        assert_eq!(label("waiting_on_client"), "Waiting on client");
        assert_eq!(label("new"), "New");
        assert_eq!(label(""), "");
    }

    #[test]
    fn lengths_of_time_read_as_words() {
        assert_eq!(duration(0), "0 min");
        assert_eq!(duration(35), "35 min");
        assert_eq!(duration(80), "1 h 20 min");
        assert_eq!(duration(65), "1 h 05 min");
        assert_eq!(duration(1_440), "24 h 00 min");
        assert_eq!(duration(2_880 + 4 * 60 + 59), "2 d 04 h");
        assert_eq!(duration(-5), "0 min");
        let now = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        let s = chrono::Duration::seconds;
        assert_eq!(minutes_until(now, now + s(20)), 1);
        assert_eq!(minutes_until(now, now + s(4_800)), 80);
        assert_eq!(minutes_until(now, now - s(2_100)), -35);
        assert_eq!(minutes_until(now, now - s(61)), -1);
        assert_eq!(minutes_until(now, now - s(20)), -1);
        assert_eq!(minutes_until(now, now), -1);
    }

    #[test]
    fn says_how_far_off() {
        let now = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        let m = chrono::Duration::minutes;
        assert_eq!(relative(now, now + m(5)), "in 5 min");
        assert_eq!(relative(now, now - m(150)), "3 h ago");
        assert_eq!(relative(now, now + m(60 * 50)), "in 2 d");
        assert_eq!(relative(now, now), "now");
    }
}
