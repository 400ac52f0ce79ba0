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
    fn says_how_far_off() {
        let now = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        let m = chrono::Duration::minutes;
        assert_eq!(relative(now, now + m(5)), "in 5 min");
        assert_eq!(relative(now, now - m(150)), "3 h ago");
        assert_eq!(relative(now, now + m(60 * 50)), "in 2 d");
        assert_eq!(relative(now, now), "now");
    }
}
