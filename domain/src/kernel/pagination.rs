//! Keyset pagination: an opaque cursor names the last row of a page, so
//! pages stay stable while rows are added, and deep pages cost the same as
//! the first.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::kernel::validation::ValidationErrors;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

/// The most rows a list that can grow without bound (tickets) counts for
/// its `total`: counting a million rows costs ~100 ms on every page, and
/// past this many "10,000+" is all a reader needs. See [`capped_count_sql`].
pub const COUNT_CAP: i64 = 10_000;

/// The most matches a full-text search counts. A common word matches a
/// tenth of the tickets, and the matches cannot be counted from an index:
/// counting 10,000 of them read 8,000 pages (46 ms at 1,000,000 tickets),
/// 1,000 read a tenth of that. Past it, "1000+" says what a searcher needs.
pub const SEARCH_COUNT_CAP: i64 = 1_000;

/// The statement that counts the rows of `from_where` (`tickets t WHERE
/// ...`) but stops at one more than `cap` ([`COUNT_CAP`] or
/// [`SEARCH_COUNT_CAP`]); give its result to [`Page::capped`] with the same
/// cap.
pub fn capped_count_sql(from_where: &str, cap: i64) -> String {
    format!(
        "SELECT count(*) FROM (SELECT 1 FROM {from_where} LIMIT {}) capped",
        cap + 1
    )
}

/// The position after which the next page starts: the sort key of the last
/// row shown and its id, to break ties.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    #[serde(rename = "k")]
    pub key: String,
    #[serde(rename = "i")]
    pub id: uuid::Uuid,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    pub fn decode(s: &str) -> Option<Cursor> {
        let bytes = URL_SAFE_NO_PAD.decode(s).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// A validated page request.
#[derive(Debug, Clone)]
pub struct PageRequest {
    pub limit: i64,
    pub after: Option<Cursor>,
}

impl PageRequest {
    /// Validates `limit` (1..=200, default 50) and `cursor`, collecting
    /// errors into `v`.
    pub fn parse(v: &mut ValidationErrors, limit: Option<i64>, cursor: Option<&str>) -> Self {
        Self::parse_within(v, limit, cursor, DEFAULT_LIMIT, MAX_LIMIT)
    }

    /// [`PageRequest::parse`] for a request with nothing else to check: a
    /// bad limit or cursor is its validation error.
    pub fn from_query(limit: Option<i64>, cursor: Option<&str>) -> crate::DomainResult<Self> {
        let mut v = ValidationErrors::new();
        let page = Self::parse(&mut v, limit, cursor);
        v.finish()?;
        Ok(page)
    }

    /// As [`PageRequest::parse`], with another default and maximum (for
    /// lists whose rows are small, such as report rows).
    pub fn parse_within(
        v: &mut ValidationErrors,
        limit: Option<i64>,
        cursor: Option<&str>,
        default: i64,
        max: i64,
    ) -> Self {
        let limit = match limit {
            None => default,
            Some(l) if (1..=max).contains(&l) => l,
            Some(_) => {
                v.add(
                    "limit",
                    "out_of_range",
                    format!("limit must be between 1 and {max}"),
                );
                default
            }
        };
        let after = match cursor.filter(|c| !c.is_empty()) {
            None => None,
            Some(c) => match Cursor::decode(c) {
                Some(c) => Some(c),
                None => {
                    v.add("cursor", "invalid", "cursor is not one this API returned");
                    None
                }
            },
        };
        PageRequest { limit, after }
    }

    pub fn first(limit: i64) -> Self {
        PageRequest { limit, after: None }
    }

    /// The number of rows to fetch: one more than shown, to know whether a
    /// next page exists.
    pub fn fetch(&self) -> i64 {
        self.limit + 1
    }

    pub fn after_key(&self) -> Option<&str> {
        self.after.as_ref().map(|c| c.key.as_str())
    }

    pub fn after_id(&self) -> Option<uuid::Uuid> {
        self.after.as_ref().map(|c| c.id)
    }
}

/// One page of results.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    pub data: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
    /// How many rows match the filters, across all pages; at most
    /// 10,000 for the lists that count no further (tickets), with
    /// `total_exact` false when more match.
    pub total: i64,
    /// False when more than `total` rows match and the count stopped there.
    #[serde(default = "exact")]
    pub total_exact: bool,
}

fn exact() -> bool {
    true
}

impl<T> Page<T> {
    /// Builds a page from `limit + 1` fetched rows; `cursor_of` gives the
    /// sort key and id of a row.
    pub fn from_rows(
        mut rows: Vec<T>,
        req: &PageRequest,
        total: i64,
        cursor_of: impl Fn(&T) -> Cursor,
    ) -> Self {
        let has_more = rows.len() as i64 > req.limit;
        rows.truncate(req.limit as usize);
        let next_cursor = if has_more {
            rows.last().map(|r| cursor_of(r).encode())
        } else {
            None
        };
        Page {
            data: rows,
            next_cursor,
            total,
            total_exact: true,
        }
    }

    /// This page with the count of [`capped_count_sql`] at `cap`: `total`
    /// at most `cap`, and `total_exact` false when the count reached past it.
    pub fn capped(mut self, cap: i64) -> Self {
        self.total_exact = self.total <= cap;
        self.total = self.total.min(cap);
        self
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            data: self.data.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
            total: self.total,
            total_exact: self.total_exact,
        }
    }
}

/// Escapes `%`, `_` and `\` for a `LIKE` pattern and wraps it in `%...%`.
pub fn like_pattern(q: &str) -> String {
    let mut s = String::with_capacity(q.len() + 2);
    s.push('%');
    for c in q.chars() {
        if matches!(c, '%' | '_' | '\\') {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('%');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let c = Cursor {
            key: "acme".into(),
            id: uuid::Uuid::now_v7(),
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        assert_eq!(Cursor::decode("not a cursor"), None);
    }

    #[test]
    fn limits() {
        let mut v = ValidationErrors::new();
        assert_eq!(PageRequest::parse(&mut v, None, None).limit, 50);
        PageRequest::parse(&mut v, Some(0), Some("%%"));
        assert_eq!(v.0.len(), 2);
    }

    #[test]
    fn like_escapes() {
        assert_eq!(like_pattern("50%_a\\"), "%50\\%\\_a\\\\%");
    }
}
