//! The file: CSV parsed into rows of cells, the header mapped to columns,
//! and the checks and errors of one row.

use std::collections::HashMap;

use chrono::NaiveDate;

use super::{ImportKind, MAX_ROWS, RowError};
use crate::kernel::validation::ValidationErrors;
use crate::{DomainError, DomainResult};

/// A parsed file: the column names and each data row's cells.
pub struct Parsed {
    columns: HashMap<String, usize>,
    rows: Vec<csv::StringRecord>,
    width: usize,
    /// Rows not to plan, already reported (see `without_bad_rows`).
    skip: Vec<bool>,
}

fn file_error(code: &'static str, message: impl Into<String>) -> DomainError {
    let mut v = ValidationErrors::new();
    v.add("file", code, message);
    DomainError::Validation(v)
}

/// Parses and checks a file of `kind`: UTF-8 (a BOM is skipped), a header
/// row of known, distinct columns with every required one, 1 to
/// [`MAX_ROWS`] data rows. Row contents are checked by [`super::run`].
pub fn parse(kind: ImportKind, bytes: &[u8]) -> DomainResult<Parsed> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        file_error(
            "invalid_encoding",
            format!(
                "the file is not UTF-8 (bad byte at offset {})",
                e.valid_up_to()
            ),
        )
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(file_error("empty", "the file is empty"));
    }
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(text.as_bytes());
    let header = rdr
        .headers()
        .map_err(|e| file_error("malformed", format!("the header row is not CSV: {e}")))?
        .clone();
    let (known, required) = kind.columns();
    let mut columns = HashMap::new();
    let mut unknown = Vec::new();
    for (i, h) in header.iter().enumerate() {
        let h = h.trim().to_ascii_lowercase();
        if !known.contains(&h.as_str()) {
            unknown.push(h);
        } else if columns.insert(h.clone(), i).is_some() {
            return Err(file_error(
                "duplicate_column",
                format!("the column {h:?} appears twice"),
            ));
        }
    }
    if !unknown.is_empty() {
        return Err(file_error(
            "unknown_column",
            format!(
                "unknown columns {unknown:?}; a {} file may have {}",
                kind.as_str(),
                known.join(", ")
            ),
        ));
    }
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|c| !columns.contains_key(*c))
        .collect();
    if !missing.is_empty() {
        return Err(file_error(
            "missing_column",
            format!("required columns missing: {}", missing.join(", ")),
        ));
    }
    let mut rows = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| file_error("malformed", format!("the file is not CSV: {e}")))?;
        // A blank line between rows is no row.
        if rec.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        rows.push(rec);
        if rows.len() > MAX_ROWS {
            return Err(file_error(
                "too_many_rows",
                format!("at most {MAX_ROWS} rows per file"),
            ));
        }
    }
    if rows.is_empty() {
        return Err(file_error("no_rows", "the file has a header but no rows"));
    }
    Ok(Parsed {
        columns,
        rows,
        width: header.len(),
        skip: Vec::new(),
    })
}

impl Parsed {
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The trimmed cell of `col` in row `i`; `None` when empty or absent.
    pub(super) fn cell(&self, i: usize, col: &str) -> Option<&str> {
        let idx = *self.columns.get(col)?;
        self.rows[i]
            .get(idx)
            .map(str::trim)
            .filter(|c| !c.is_empty())
    }

    /// The data rows to check against the records: those not skipped.
    pub(super) fn rows(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.rows.len()).filter(|i| !self.skip.get(*i).copied().unwrap_or(false))
    }

    /// Marks as skipped, each with a row error, the rows holding a NUL byte
    /// (which no text column stores; an error per such cell, naming its
    /// column) and the rows with more or fewer cells than the header.
    pub(super) fn without_bad_rows(mut self, errs: &mut Errors) -> Parsed {
        let mut names: Vec<(&String, &usize)> = self.columns.iter().collect();
        names.sort_by_key(|(_, i)| **i);
        self.skip = vec![false; self.rows.len()];
        for (i, rec) in self.rows.iter().enumerate() {
            for (j, cell) in rec.iter().enumerate() {
                if cell.contains('\0') {
                    let col = names
                        .iter()
                        .find(|(_, idx)| **idx == j)
                        .map(|(n, _)| n.to_string())
                        .unwrap_or_else(|| format!("column {}", j + 1));
                    errs.add(
                        i,
                        &col,
                        "nul_character",
                        format!("{col} contains a NUL byte; the row was not imported"),
                    );
                    self.skip[i] = true;
                }
            }
            if !self.skip[i] && rec.len() != self.width {
                errs.add(
                    i,
                    "",
                    "wrong_cell_count",
                    format!(
                        "the row has {} cells; the header has {}",
                        rec.len(),
                        self.width
                    ),
                );
                self.skip[i] = true;
            }
        }
        self
    }

    pub(super) fn text(&self, i: usize, col: &str) -> Option<String> {
        self.cell(i, col).map(str::to_owned)
    }
}

/// Collects row errors.
#[derive(Default)]
pub(super) struct Errors(pub(super) Vec<RowError>);

impl Errors {
    pub(super) fn add(&mut self, i: usize, field: &str, code: &str, message: impl Into<String>) {
        self.0.push(RowError {
            row: i as i32 + 1,
            field: field.to_owned(),
            code: code.to_owned(),
            message: message.into(),
        });
    }

    /// Adds a domain validation's errors, renaming fields to the file's columns.
    pub(super) fn extend(&mut self, i: usize, v: ValidationErrors, rename: &[(&str, &str)]) {
        for e in v.0 {
            let field = rename
                .iter()
                .find(|(from, _)| *from == e.field)
                .map(|(_, to)| (*to).to_owned())
                .unwrap_or_else(|| e.field.trim_start_matches("address.").to_owned());
            self.add(i, &field, e.code, e.message);
        }
    }

    pub(super) fn failed_rows(&self) -> usize {
        let mut rows: Vec<i32> = self.0.iter().map(|e| e.row).collect();
        rows.dedup();
        rows.len()
    }
}

pub(super) fn parse_bool(p: &Parsed, i: usize, col: &str, errs: &mut Errors) -> bool {
    match p.cell(i, col).map(str::to_ascii_lowercase).as_deref() {
        None | Some("false" | "no" | "0" | "n") => false,
        Some("true" | "yes" | "1" | "y") => true,
        Some(other) => {
            errs.add(
                i,
                col,
                "invalid",
                format!("{col} must be true or false, not {other:?}"),
            );
            false
        }
    }
}

pub(super) fn parse_date(p: &Parsed, i: usize, col: &str, errs: &mut Errors) -> Option<NaiveDate> {
    let s = p.cell(i, col)?;
    match NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        Ok(d) if crate::kernel::dates::in_range(d) => Some(d),
        Ok(_) => {
            errs.add(
                i,
                col,
                "out_of_range",
                crate::kernel::dates::range_message(col),
            );
            None
        }
        Err(_) => {
            errs.add(
                i,
                col,
                "invalid",
                format!("{col} must be a date as YYYY-MM-DD, not {s:?}"),
            );
            None
        }
    }
}
