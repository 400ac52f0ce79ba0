//! Document number patterns, such as `INV-{YYYY}-{SEQ:6}`: their grammar,
//! what a number looks like for a date and sequence value, and the scope its
//! counter restarts in. Pure; allocation is `billing::numbering`'s.
//!
//! Tokens: `{YYYY}`, `{YY}`, `{MM}` (of the document's date) and exactly one
//! `{SEQ}` or `{SEQ:n}` (zero-padded to n digits, 1 to 12). The counter
//! restarts each month when the pattern has `{MM}`, each year when it has a
//! year, and never otherwise.

use chrono::{Datelike, NaiveDate};

use crate::kernel::validation::ValidationErrors;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Year4,
    Year2,
    Month,
    Seq(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberPattern(Vec<Part>);

impl NumberPattern {
    pub fn parse(pattern: &str) -> Result<NumberPattern, String> {
        let mut parts = Vec::new();
        let mut rest = pattern;
        let mut seqs = 0;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_owned()));
            }
            let close = rest[open..].find('}').ok_or("a `{` is not closed")? + open;
            let token = &rest[open + 1..close];
            parts.push(match token {
                "YYYY" => Part::Year4,
                "YY" => Part::Year2,
                "MM" => Part::Month,
                "SEQ" => Part::Seq(1),
                t => match t.strip_prefix("SEQ:").map(str::parse::<usize>) {
                    Some(Ok(n)) if (1..=12).contains(&n) => Part::Seq(n),
                    _ => {
                        return Err(format!(
                            "unknown token {{{t}}}; use YYYY, YY, MM, SEQ or SEQ:n (n 1 to 12)"
                        ));
                    }
                },
            });
            if matches!(parts.last(), Some(Part::Seq(_))) {
                seqs += 1;
            }
            rest = &rest[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        if seqs != 1 {
            return Err("the pattern needs exactly one {SEQ} or {SEQ:n}".into());
        }
        if pattern.chars().count() > 50 {
            return Err("the pattern is longer than 50 characters".into());
        }
        Ok(NumberPattern(parts))
    }

    /// Which counter a document of `date` draws from.
    pub fn scope(&self, date: NaiveDate) -> String {
        if self.0.contains(&Part::Month) {
            format!("{:04}-{:02}", date.year(), date.month())
        } else if self
            .0
            .iter()
            .any(|p| matches!(p, Part::Year4 | Part::Year2))
        {
            format!("{:04}", date.year())
        } else {
            "all".to_owned()
        }
    }

    pub fn render(&self, date: NaiveDate, seq: i64) -> String {
        self.0
            .iter()
            .map(|p| match p {
                Part::Literal(s) => s.clone(),
                Part::Year4 => format!("{:04}", date.year()),
                Part::Year2 => format!("{:02}", date.year() % 100),
                Part::Month => format!("{:02}", date.month()),
                Part::Seq(width) => format!("{seq:0width$}"),
            })
            .collect()
    }
}

/// Validates a pattern setting, naming `field` on failure.
pub fn validate(v: &mut ValidationErrors, field: &str, pattern: &str) {
    if let Err(e) = NumberPattern::parse(pattern) {
        v.add(field, "invalid", format!("{field}: {e}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn renders_and_scopes() {
        let p = NumberPattern::parse("INV-{YYYY}-{SEQ:6}").unwrap();
        assert_eq!(p.render(d(2026, 3, 1), 42), "INV-2026-000042");
        assert_eq!(p.scope(d(2026, 3, 1)), "2026");
        let m = NumberPattern::parse("{YY}{MM}/{SEQ:3}").unwrap();
        assert_eq!(m.render(d(2026, 3, 1), 7), "2603/007");
        assert_eq!(m.scope(d(2026, 3, 1)), "2026-03");
        let plain = NumberPattern::parse("{SEQ}").unwrap();
        assert_eq!(plain.render(d(2026, 3, 1), 1234567), "1234567");
        assert_eq!(plain.scope(d(2026, 3, 1)), "all");
    }

    #[test]
    fn rejects_bad_patterns() {
        for bad in [
            "INV-{YYYY}",
            "{SEQ}{SEQ}",
            "{SEQ:0}",
            "{SEQ:13}",
            "{DAY}-{SEQ}",
            "{SEQ",
            "x".repeat(60).as_str(),
        ] {
            assert!(NumberPattern::parse(bad).is_err(), "{bad}");
        }
    }
}
