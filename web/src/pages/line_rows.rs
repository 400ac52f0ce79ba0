//! The one editable table of document lines, for every form that sends the
//! API's `lines` (`LineRequest`s): new invoice, edit a draft invoice, new
//! quote, new and edit recurring template.
//!
//! Each row is named by its position, `lines[N].description`,
//! `lines[N].quantity`, `lines[N].unit_price` (the API's own paths), so
//! any number of rows reads back in order. What the table does not show of
//! a stored line (its product, discount and taxes) rides along in hidden
//! fields of the same row, so editing a row's price keeps its taxes; a new
//! row has none and gets the API's defaults. A row whose shown fields are
//! all empty, or whose "Remove" box is ticked, is no line; anything typed
//! goes to the API to judge. The form shows [`BLANK_ROWS`] empty rows to
//! fill, and its "Add more rows" button ([`ADD_ROWS`]) posts the form back
//! to be drawn again, as typed, with more: no script needed.
//!
//! The API's problems with a line (`lines[i]...`, `i` counting only the
//! rows sent) are shown under the row they belong to, the typed values
//! kept.

use std::collections::BTreeMap;

use maud::{Markup, html};
use nestogy_domain::billing::invoices::{InvoiceLine, LineRequest};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::api_client::ApiFailure;
use crate::session::Console;

/// Empty rows offered to fill, at first and on each "Add more rows".
pub(crate) const BLANK_ROWS: usize = 3;

/// The name of the "Add more rows" button.
pub(crate) const ADD_ROWS: &str = "add_rows";

/// Rows a form reads at most (the API takes 500 lines; a few blank ones
/// beyond are fine, an index of a million is not a million rows).
const MAX_ROWS: usize = 1000;

/// One row as typed (or as a stored line puts it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Row {
    pub description: String,
    pub quantity: String,
    pub unit_price: String,
    /// The stored line's product (empty: none).
    product_id: String,
    /// The stored line's discount as the API's JSON (empty: none).
    discount: String,
    /// The stored line's tax rates, comma-separated; `None` for a new row
    /// (the product's taxes, if any, apply).
    taxes: Option<String>,
    remove: bool,
}

impl Row {
    /// Neither typed into nor a stored line's: skipped.
    fn is_blank(&self) -> bool {
        self.remove
            || [&self.description, &self.quantity, &self.unit_price]
                .iter()
                .all(|v| v.trim().is_empty())
    }

    /// The row as the API's `LineRequest`.
    fn json(&self) -> Value {
        let some = |v: &str| {
            let v = v.trim();
            (!v.is_empty()).then(|| v.to_owned())
        };
        let mut line = json!({
            "description": some(&self.description),
            "quantity": self.quantity.trim(),
            "unit_price": some(&self.unit_price),
        });
        if let Some(p) = some(&self.product_id) {
            line["product_id"] = json!(p);
        }
        if let Some(d) = some(&self.discount) {
            // Ours unless tampered with; then the API says what is wrong.
            line["discount"] = serde_json::from_str(&d).unwrap_or(json!(d));
        }
        if let Some(t) = &self.taxes {
            let ids: Vec<&str> = t
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect();
            line["tax_rate_ids"] = json!(ids);
        }
        line
    }
}

/// The rows of a lines table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LineRows {
    rows: Vec<Row>,
    /// "Add more rows" was pressed: draw the form again, send nothing.
    pub add_rows: bool,
}

impl LineRows {
    /// [`BLANK_ROWS`] empty rows, the first with quantity 1: a new document.
    pub fn new_document() -> Self {
        let mut r = LineRows::default().with_blanks();
        if let Some(first) = r.rows.first_mut() {
            first.quantity = "1".to_owned();
        }
        r
    }

    /// An invoice's or quote's lines as they are, then empty rows.
    pub fn of_lines(lines: &[InvoiceLine]) -> Self {
        let rows = lines
            .iter()
            .map(|l| Row {
                description: l.description.clone(),
                quantity: l.quantity.normalize().to_string(),
                unit_price: l.unit_price.to_string(),
                product_id: l.product_id.map(|p| p.to_string()).unwrap_or_default(),
                discount: discount_text(l.discount.as_ref()),
                taxes: Some(
                    l.taxes
                        .iter()
                        .map(|t| t.tax_rate_id.to_string())
                        .collect::<Vec<_>>()
                        .join(","),
                ),
                remove: false,
            })
            .collect();
        LineRows {
            rows,
            add_rows: false,
        }
        .with_blanks()
    }

    /// A recurring template's lines as it stores them, then empty rows.
    pub fn of_requests(lines: &[LineRequest]) -> Self {
        let rows = lines
            .iter()
            .map(|l| Row {
                description: l.description.clone().unwrap_or_default(),
                quantity: l.quantity.normalize().to_string(),
                unit_price: l.unit_price.map(|p| p.to_string()).unwrap_or_default(),
                product_id: l.product_id.map(|p| p.to_string()).unwrap_or_default(),
                discount: discount_text(l.discount.as_ref()),
                taxes: l.tax_rate_ids.as_ref().map(|ids| {
                    ids.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                }),
                remove: false,
            })
            .collect();
        LineRows {
            rows,
            add_rows: false,
        }
        .with_blanks()
    }

    /// The same rows and [`BLANK_ROWS`] empty ones after them.
    pub fn with_blanks(mut self) -> Self {
        self.rows
            .extend(std::iter::repeat_n(Row::default(), BLANK_ROWS));
        self
    }

    /// Takes the rows (and the "Add more rows" button) out of a posted
    /// form's fields; the other fields are returned as they came.
    pub fn take(raw: Vec<(String, String)>) -> (Self, Vec<(String, String)>) {
        let mut rows: BTreeMap<usize, Row> = BTreeMap::new();
        let mut rest = Vec::new();
        let mut add_rows = false;
        for (k, v) in raw {
            if k == ADD_ROWS {
                add_rows = true;
                continue;
            }
            let Some((n, field)) = row_field(&k) else {
                rest.push((k, v));
                continue;
            };
            if n >= MAX_ROWS {
                continue;
            }
            let row = rows.entry(n).or_default();
            match field {
                "description" => row.description = v,
                "quantity" => row.quantity = v,
                "unit_price" => row.unit_price = v,
                "product_id" => row.product_id = v,
                "discount" => row.discount = v,
                "taxes" => row.taxes = Some(v),
                "remove" => row.remove = true,
                _ => rest.push((k, v)),
            }
        }
        let rows = LineRows {
            rows: rows.into_values().collect(),
            add_rows,
        };
        (rows, rest)
    }

    /// A posted form: its rows, and its other fields read as `T` (a 400
    /// page when they do not read, as [`crate::session::Form`] answers).
    pub fn read<T: DeserializeOwned>(
        c: &Console,
        raw: Vec<(String, String)>,
    ) -> Result<(T, Self), ApiFailure> {
        let (rows, rest) = Self::take(raw);
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &rest {
            s.append_pair(k, v);
        }
        let fields = serde_urlencoded::from_str(&s.finish()).map_err(|_| {
            ApiFailure::new(
                axum::http::StatusCode::BAD_REQUEST,
                "bad_form",
                "the form is missing a field or has one it should not",
            )
            .in_frame(c.chrome.clone())
        })?;
        Ok((fields, rows))
    }

    /// The lines to send: every row that is not blank, in order.
    pub fn json(&self) -> Vec<Value> {
        self.rows
            .iter()
            .filter(|r| !r.is_blank())
            .map(Row::json)
            .collect()
    }

    /// The rows the API sees (blank and removed ones left out), ticks
    /// cleared: what to compare with a stored document's lines.
    pub fn sent(&self) -> Vec<Row> {
        self.rows
            .iter()
            .filter(|r| !r.is_blank())
            .cloned()
            .collect()
    }

    /// The rows as typed, without the trailing empty ones, and
    /// [`BLANK_ROWS`] more: after "Add more rows".
    pub fn more(mut self) -> Self {
        while self.rows.last().is_some_and(|r| *r == Row::default()) {
            self.rows.pop();
        }
        self.add_rows = false;
        self.with_blanks()
    }

    /// The editable table, each row's problems (from `problem`, the API's
    /// refusal of these rows) under it; [`add_rows_button`] goes after the
    /// form's submit button.
    pub fn table(&self, problem: Option<&ApiFailure>) -> Markup {
        let mut sent = 0usize;
        html! {
            fieldset.line-rows #line-rows {
                legend { "Lines" }
                p.hint { "Empty rows are left out; tick “Remove” to drop a line." }
                div.scroll { table.line-rows {
                    thead { tr {
                        th { "Description" } th { "Quantity" } th { "Unit price" } th { "Remove" }
                    } }
                    tbody {
                        @for (n, row) in self.rows.iter().enumerate() {
                            @let at = (!row.is_blank()).then(|| { sent += 1; sent - 1 });
                            @let problems = at.map(|i| row_problems(problem, i)).unwrap_or_default();
                            @let bad = |f: &str| problems.iter().any(|(field, _)| field == f);
                            @let described = (!problems.is_empty()).then(|| format!("line-{n}-problem"));
                            tr id={ "line-" (n) } {
                                td {
                                    input id={ "line-" (n) "-description" } name={ "lines[" (n) "].description" }
                                        type="text" value=(row.description) aria-label={ "Line " (n + 1) " description" }
                                        aria-invalid=[bad("description").then_some("true")]
                                        aria-describedby=[described.as_deref()];
                                    @if !row.product_id.is_empty() { input type="hidden" name={ "lines[" (n) "].product_id" } value=(row.product_id); }
                                    @if !row.discount.is_empty() { input type="hidden" name={ "lines[" (n) "].discount" } value=(row.discount); }
                                    @if let Some(t) = &row.taxes { input type="hidden" name={ "lines[" (n) "].taxes" } value=(t); }
                                }
                                td {
                                    input id={ "line-" (n) "-quantity" } name={ "lines[" (n) "].quantity" }
                                        type="text" inputmode="decimal" size="6" value=(row.quantity)
                                        aria-label={ "Line " (n + 1) " quantity" }
                                        aria-invalid=[bad("quantity").then_some("true")]
                                        aria-describedby=[described.as_deref()];
                                }
                                td {
                                    input id={ "line-" (n) "-unit_price" } name={ "lines[" (n) "].unit_price" }
                                        type="text" inputmode="decimal" size="8" value=(row.unit_price)
                                        aria-label={ "Line " (n + 1) " unit price" }
                                        aria-invalid=[bad("unit_price").then_some("true")]
                                        aria-describedby=[described.as_deref()];
                                }
                                td {
                                    input id={ "line-" (n) "-remove" } name={ "lines[" (n) "].remove" } type="checkbox"
                                        value="true" checked[row.remove] aria-label={ "Remove line " (n + 1) };
                                }
                            }
                            @if let Some(id) = &described {
                                tr.row-problem {
                                    td colspan="4" {
                                        p.field-problem id=(id) {
                                            @for (i, (field, message)) in problems.iter().enumerate() {
                                                @if i > 0 { br; }
                                                (field_label(field)) ": " (message)
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                } }
            }
        }
    }
}

/// The "Add more rows" button: after the form's own submit button, so
/// Enter in a field still submits the form.
pub(crate) fn add_rows_button() -> Markup {
    html! {
        " " button.secondary #add-rows type="submit" name=(ADD_ROWS) value="1" formnovalidate { "Add more rows" }
    }
}

/// A stored discount as the hidden field carries it.
fn discount_text(d: Option<&nestogy_domain::kernel::money::Discount>) -> String {
    d.and_then(|d| serde_json::to_string(d).ok())
        .unwrap_or_default()
}

/// `lines[N].field` as (N, field).
fn row_field(name: &str) -> Option<(usize, &str)> {
    let rest = name.strip_prefix("lines[")?;
    let (n, field) = rest.split_once("].")?;
    Some((n.parse().ok()?, field))
}

/// What the user calls a line's field.
fn field_label(field: &str) -> &str {
    match field {
        "description" => "Description",
        "quantity" => "Quantity",
        "unit_price" => "Unit price",
        "product_id" => "Product",
        "discount" => "Discount",
        "tax_rate_ids" => "Taxes",
        "" => "Line",
        other => other,
    }
}

/// The API's problems with line `i` (as it counted the lines): (field,
/// message), the field "" for the line as a whole, from the fields a
/// `validation_failed` or an `invalid_body` (a quantity of "two") names.
fn row_problems(problem: Option<&ApiFailure>, i: usize) -> Vec<(String, String)> {
    let Some(p) = problem else {
        return Vec::new();
    };
    let prefix = format!("lines[{i}]");
    let of_path = |path: &str| -> Option<String> {
        let rest = path.strip_prefix(&prefix)?;
        match rest.strip_prefix('.') {
            Some(f) => Some(f.split(['.', '[']).next().unwrap_or(f).to_owned()),
            None if rest.is_empty() => Some(String::new()),
            None => None,
        }
    };
    p.fields
        .iter()
        .filter_map(|f| of_path(&f.field).map(|field| (field, f.message.clone())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn rows_read_in_order_blank_and_removed_ones_left_out() {
        let (rows, rest) = LineRows::take(pairs(&[
            ("client_id", "c"),
            ("lines[10].description", "Last"),
            ("lines[10].quantity", "1"),
            ("lines[2].description", "First"),
            ("lines[2].quantity", "2"),
            ("lines[2].unit_price", " 9.50 "),
            ("lines[2].taxes", "a,b"),
            ("lines[2].discount", r#"{"kind":"percent","value":"5"}"#),
            ("lines[3].description", ""),
            ("lines[3].quantity", ""),
            ("lines[4].description", "Gone"),
            ("lines[4].quantity", "1"),
            ("lines[4].remove", "true"),
            ("lines[5000000].description", "too far"),
            ("lines[x].description", "not a row"),
        ]));
        assert!(!rows.add_rows);
        assert_eq!(
            rest,
            pairs(&[("client_id", "c"), ("lines[x].description", "not a row")])
        );
        let json = rows.json();
        assert_eq!(json.len(), 2, "{json:?}");
        assert_eq!(
            json[0],
            json!({"description": "First", "quantity": "2", "unit_price": "9.50",
                   "tax_rate_ids": ["a", "b"], "discount": {"kind": "percent", "value": "5"}})
        );
        assert_eq!(
            json[1],
            json!({"description": "Last", "quantity": "1", "unit_price": null})
        );
    }

    #[test]
    fn more_rows_keep_what_was_typed() {
        let (rows, _) = LineRows::take(pairs(&[
            ("lines[0].description", "Typed"),
            ("lines[1].description", ""),
            (ADD_ROWS, "1"),
        ]));
        assert!(rows.add_rows);
        let more = rows.more();
        assert_eq!(more.rows.len(), 1 + BLANK_ROWS);
        assert_eq!(more.rows[0].description, "Typed");
        let html = more.table(None).into_string();
        assert!(html.contains("name=\"lines[3].description\""), "{html}");
        assert!(html.contains("value=\"Typed\""));
    }

    #[test]
    fn problems_land_on_the_row_the_api_counted() {
        let mut f = ApiFailure::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            "the body does not have the expected shape: lines[1].quantity: invalid decimal",
        );
        f.fields = vec![crate::api_client::FieldProblem {
            field: "lines[1].quantity".into(),
            code: "invalid_value".into(),
            message: "invalid decimal".into(),
        }];
        // Row 1 is blank: the API's line 1 is the form's row 2.
        let (rows, _) = LineRows::take(pairs(&[
            ("lines[0].description", "A"),
            ("lines[0].quantity", "1"),
            ("lines[1].description", ""),
            ("lines[2].description", "B"),
            ("lines[2].quantity", "two"),
        ]));
        let html = rows.table(Some(&f)).into_string();
        assert!(
            html.contains("id=\"line-2-problem\"") && html.contains("Quantity: invalid decimal"),
            "{html}"
        );
        f.code = "validation_failed".into();
        f.fields = vec![crate::api_client::FieldProblem {
            field: "lines[0].description".into(),
            code: "required".into(),
            message: "is required".into(),
        }];
        assert_eq!(
            row_problems(Some(&f), 0),
            [("description".to_owned(), "is required".to_owned())]
        );
        assert!(row_problems(Some(&f), 1).is_empty());
        assert!(row_problems(None, 0).is_empty());
    }
}
