//! CSV export of clients, invoices, payments, tickets and assets, streamed:
//! pages of [`PAGE`] rows in id order (ids are time-ordered), each written
//! out before the next is read, in one read-only transaction (read committed:
//! each page is read as it is then; keyset paging never repeats or skips a row).
//!
//! Text cells that a spreadsheet would run as a formula (starting with `=`,
//! `+`, `-`, `@`, a tab or a carriage return) get a leading `'`. Money is a
//! decimal string in the currency's minor units. Client and asset files have
//! the import's columns, so they import again.

use bytes::Bytes;
use chrono::NaiveDate;
use futures_util::stream::{self, BoxStream, StreamExt};
use rust_decimal::Decimal;
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::integrations::imports::{ASSET_COLUMNS, CLIENT_COLUMNS};
use crate::kernel::text::text_enum;
use crate::{ClientId, DomainError, DomainResult, TenantTx, kernel::money};

/// Rows read per query.
pub const PAGE: i64 = 1000;

text_enum!(ExportKind {
    Clients = "clients",
    Invoices = "invoices",
    Payments = "payments",
    Tickets = "tickets",
    Assets = "assets",
});

/// What an export holds; dates are inclusive and apply to invoices (issue
/// date), payments (paid on) and tickets (created, UTC).
#[derive(Debug, Clone, Default)]
pub struct ExportFilter {
    pub client_id: Option<ClientId>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

/// A cell a spreadsheet will not evaluate.
pub fn guard(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    }
}

fn header(kind: ExportKind) -> &'static [&'static str] {
    match kind {
        ExportKind::Clients => CLIENT_COLUMNS,
        ExportKind::Assets => ASSET_COLUMNS,
        ExportKind::Invoices => &[
            "number",
            "client",
            "status",
            "currency",
            "issue_date",
            "due_date",
            "subtotal",
            "discount_total",
            "tax_total",
            "total",
            "amount_paid",
            "balance",
        ],
        ExportKind::Payments => &[
            "paid_on",
            "kind",
            "client",
            "invoice",
            "method",
            "reference",
            "currency",
            "amount",
            "applied",
        ],
        ExportKind::Tickets => &[
            "number",
            "subject",
            "client",
            "status",
            "priority",
            "source",
            "requester_email",
            "assignee",
            "created_at",
            "resolved_at",
            "closed_at",
        ],
    }
}

/// The query of one page: `$1` tenant, `$2` the last id, `$3` client,
/// `$4` from, `$5` to, `$6` limit. Columns: id first, then the cells.
fn query(kind: ExportKind) -> &'static str {
    match kind {
        ExportKind::Clients => {
            "SELECT c.id, c.name, c.email, c.phone, c.website, c.tax_id, c.notes, \
             array_to_string(c.email_domains, ';') FROM clients c WHERE c.company_id = $1 \
             AND ($2::uuid IS NULL OR c.id > $2) AND ($3::uuid IS NULL OR c.id = $3) \
             AND ($4::date IS NULL OR true) AND ($5::date IS NULL OR true) ORDER BY c.id LIMIT $6"
        }
        ExportKind::Assets => {
            "SELECT a.id, c.name, a.name, a.asset_type, a.status, a.make, a.model, a.serial, a.hostname, \
             a.ip_address, a.mac_address, a.operating_system, a.purchase_date::text, a.purchase_cost, \
             a.currency, a.warranty_expires::text, a.notes \
             FROM assets a JOIN clients c ON c.id = a.client_id WHERE a.company_id = $1 \
             AND ($2::uuid IS NULL OR a.id > $2) AND ($3::uuid IS NULL OR a.client_id = $3) \
             AND ($4::date IS NULL OR true) AND ($5::date IS NULL OR true) ORDER BY a.id LIMIT $6"
        }
        ExportKind::Invoices => {
            "SELECT i.id, i.number, c.name, i.status, i.currency::text, i.issue_date::text, \
             i.due_date::text, i.subtotal, i.discount_total, i.tax_total, i.total, i.amount_paid, \
             CASE WHEN i.status IN ('draft', 'void') THEN 0 ELSE i.total - i.amount_paid END \
             FROM invoices i JOIN clients c ON c.id = i.client_id WHERE i.company_id = $1 \
             AND ($2::uuid IS NULL OR i.id > $2) AND ($3::uuid IS NULL OR i.client_id = $3) \
             AND ($4::date IS NULL OR i.issue_date >= $4) AND ($5::date IS NULL OR i.issue_date <= $5) \
             ORDER BY i.id LIMIT $6"
        }
        ExportKind::Payments => {
            "SELECT p.id, p.paid_on::text, p.kind, c.name, i.number, p.method, p.reference, \
             p.currency::text, p.amount, p.applied \
             FROM payments p JOIN clients c ON c.id = p.client_id JOIN invoices i ON i.id = p.invoice_id \
             WHERE p.company_id = $1 \
             AND ($2::uuid IS NULL OR p.id > $2) AND ($3::uuid IS NULL OR p.client_id = $3) \
             AND ($4::date IS NULL OR p.paid_on >= $4) AND ($5::date IS NULL OR p.paid_on <= $5) \
             ORDER BY p.id LIMIT $6"
        }
        ExportKind::Tickets => {
            "SELECT t.id, t.number::text, t.subject, c.name, t.status, t.priority, t.source, \
             t.requester_email, u.email, \
             to_char(t.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
             to_char(t.resolved_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
             to_char(t.closed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') \
             FROM tickets t LEFT JOIN clients c ON c.id = t.client_id \
             LEFT JOIN users u ON u.id = t.assignee_id WHERE t.company_id = $1 \
             AND ($2::uuid IS NULL OR t.id > $2) AND ($3::uuid IS NULL OR t.client_id = $3) \
             AND ($4::date IS NULL OR t.created_at >= $4::date::timestamp AT TIME ZONE 'UTC') \
             AND ($5::date IS NULL OR t.created_at < ($5::date + 1)::timestamp AT TIME ZONE 'UTC') \
             ORDER BY t.id LIMIT $6"
        }
    }
}

/// The columns of `kind` holding money, and the one holding its currency.
fn money_columns(kind: ExportKind) -> (&'static [usize], Option<usize>) {
    match kind {
        ExportKind::Clients | ExportKind::Tickets => (&[], None),
        ExportKind::Assets => (&[13], Some(14)),
        ExportKind::Invoices => (&[7, 8, 9, 10, 11, 12], Some(4)),
        ExportKind::Payments => (&[8, 9], Some(7)),
    }
}

fn cells(kind: ExportKind, row: &PgRow) -> DomainResult<Vec<String>> {
    let (money_cols, currency_col) = money_columns(kind);
    let currency: Option<String> = match currency_col {
        Some(c) => row.try_get(c)?,
        None => None,
    };
    let minor = currency
        .as_deref()
        .and_then(|c| money::minor_units(c.trim()))
        .unwrap_or(2);
    let mut out = Vec::with_capacity(row.len() - 1);
    for i in 1..row.len() {
        if money_cols.contains(&i) {
            let v: Option<Decimal> = row.try_get(i)?;
            out.push(
                v.map(|mut d| {
                    d.rescale(minor);
                    d.to_string()
                })
                .unwrap_or_default(),
            );
        } else {
            let v: Option<String> = row.try_get(i)?;
            out.push(v.as_deref().map(guard).unwrap_or_default());
        }
    }
    Ok(out)
}

struct State {
    tx: Option<TenantTx>,
    kind: ExportKind,
    filter: ExportFilter,
    after: Option<uuid::Uuid>,
    started: bool,
}

async fn next_chunk(st: &mut State) -> DomainResult<Option<Bytes>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let csv_err = |e: csv::Error| DomainError::Internal(format!("writing CSV: {e}"));
    if !st.started {
        st.started = true;
        w.write_record(header(st.kind)).map_err(csv_err)?;
    }
    let Some(tx) = st.tx.as_mut() else {
        return Ok(None);
    };
    let tenant = tx.tenant();
    let rows: Vec<PgRow> = sqlx::query(query(st.kind))
        .bind(tenant)
        .bind(st.after)
        .bind(st.filter.client_id)
        .bind(st.filter.from)
        .bind(st.filter.to)
        .bind(PAGE)
        .fetch_all(tx.conn())
        .await?;
    if (rows.len() as i64) < PAGE
        && let Some(tx) = st.tx.take()
    {
        tx.end_read();
    }
    if let Some(last) = rows.last() {
        st.after = Some(last.try_get(0)?);
    }
    for r in &rows {
        w.write_record(cells(st.kind, r)?).map_err(csv_err)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| DomainError::Internal(format!("writing CSV: {e}")))?;
    Ok(Some(Bytes::from(bytes)))
}

/// The export as a stream of CSV chunks: the header, then one chunk per page.
pub fn stream(
    tx: TenantTx,
    kind: ExportKind,
    filter: ExportFilter,
) -> BoxStream<'static, Result<Bytes, DomainError>> {
    let st = State {
        tx: Some(tx),
        kind,
        filter,
        after: None,
        started: false,
    };
    stream::unfold(Some(st), |st| async move {
        let mut st = st?;
        match next_chunk(&mut st).await {
            Ok(Some(b)) => Some((Ok(b), Some(st))),
            Ok(None) => None,
            Err(e) => Some((Err(e), None)),
        }
    })
    .boxed()
}

/// The export's file name: `clients-2026-11-30.csv`.
pub fn filename(kind: ExportKind, today: NaiveDate) -> String {
    format!("{}-{}.csv", kind.as_str(), today.format("%Y-%m-%d"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_guarded() {
        for bad in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert!(guard(bad).starts_with('\''), "{bad:?}");
        }
        assert_eq!(guard("Acme"), "Acme");
    }
}
