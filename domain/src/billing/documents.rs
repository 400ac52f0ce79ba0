//! Documents: what an invoice, a quote or a statement shows, as the data a
//! template is rendered from, and the registry of current renderings.
//!
//! The view is fully formatted for the company's locale (money, numbers,
//! dates, labels), so templates only lay text out. Its digest (SHA-256 of
//! the data and the logo) names a rendering: a changed document has a new
//! digest, so a stale PDF is never served as current.
//!
//! The printed arithmetic: invoices and quotes print their lines and totals
//! by [`money::printed`] (where the rule is written), an invoice then what
//! was paid and what credit was applied (both negative) and the balance
//! due. A statement prints the opening balance, each invoice (debit),
//! payment (credit) and refund (debit) with the running balance, each
//! credit applied to an invoice (a movement between the client's credit
//! and that invoice: the balance does not change), and the closing
//! balance. Every printed number is rounded by the money rule before it is
//! printed, so adding the printed numbers gives the printed result to the
//! cent (`tests/api/printed.rs` reads them back and checks).

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use uuid::Uuid;

use crate::billing::DocKind;
use crate::billing::invoices::{self, InvoiceLine, InvoiceStatus};
use crate::billing::locale::{self, DocLabels, Labels, Locale};
use crate::identity::company::{self, Address, Company, Logo};
use crate::kernel::money::{Discount, LineFigures, Printed, Tax};
use crate::{
    ClientId, DomainResult, InvoiceId, QuoteId, RecurringId, TenantId, TenantTx,
    billing::billing_periods, billing::payments, billing::quotes, billing::recurring,
    customers::clients, kernel::money,
};

/// A statement's currency and period.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Period {
    pub currency: String,
    #[serde(deserialize_with = "crate::kernel::dates::de")]
    pub from: NaiveDate,
    #[serde(deserialize_with = "crate::kernel::dates::de")]
    pub to: NaiveDate,
}

/// One document: an invoice, a quote, or a client's statement for a period.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DocRef {
    Invoice { id: InvoiceId },
    Quote { id: QuoteId },
    Statement { client: ClientId, period: Period },
}

impl DocRef {
    pub fn kind(&self) -> DocKind {
        match self {
            DocRef::Invoice { .. } => DocKind::Invoice,
            DocRef::Quote { .. } => DocKind::Quote,
            DocRef::Statement { .. } => DocKind::Statement,
        }
    }

    pub fn subject_id(&self) -> Uuid {
        match self {
            DocRef::Invoice { id } => id.as_uuid(),
            DocRef::Quote { id } => id.as_uuid(),
            DocRef::Statement { client, .. } => client.as_uuid(),
        }
    }

    /// Tells statements of one client apart; empty for invoices and quotes.
    pub fn variant(&self) -> String {
        match self {
            DocRef::Statement { period, .. } => {
                format!("{}:{}:{}", period.currency, period.from, period.to)
            }
            _ => String::new(),
        }
    }

    /// A short key naming the document in job keys and dedupe keys.
    pub fn key(&self) -> String {
        match self {
            DocRef::Statement { .. } => {
                format!("statement:{}:{}", self.subject_id(), self.variant())
            }
            _ => format!("{}:{}", self.kind().as_str(), self.subject_id()),
        }
    }
}

/// The data a document is rendered from.
#[derive(Debug, Clone)]
pub struct View {
    pub doc: DocRef,
    /// The template's data, as JSON.
    pub data: Vec<u8>,
    pub logo: Option<Logo>,
    /// SHA-256 (hex) of the data and the logo.
    pub digest: String,
    /// A file name for the PDF, e.g. `INV-2026-000001.pdf`.
    pub file_name: String,
    pub client_id: ClientId,
}

fn address_lines(a: &Address) -> Vec<String> {
    let city = [a.postal_code.as_deref(), a.city.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    [
        a.line1.clone(),
        a.line2.clone(),
        (!city.is_empty()).then_some(city),
        a.region.clone(),
        a.country.clone(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

struct Fmt {
    locale: Locale,
    currency: String,
}

impl Fmt {
    fn minor(&self) -> u32 {
        money::minor_units(&self.currency).unwrap_or(2)
    }
    fn money(&self, x: Decimal) -> String {
        locale::format_money(
            money::to_minor(x, self.minor()),
            &self.currency,
            self.locale,
        )
    }
    fn price(&self, x: Decimal) -> String {
        locale::format_price(
            money::to_price(x, self.minor()),
            &self.currency,
            self.locale,
        )
    }
    fn date(&self, d: NaiveDate) -> String {
        locale::format_date(d, self.locale)
    }
    /// "1 Sep 2026 – 30 Sep 2026".
    fn dates(&self, from: NaiveDate, to: NaiveDate) -> String {
        format!("{} – {}", self.date(from), self.date(to))
    }
    /// A tax rate as a totals row names it: "VAT 19%", or its name alone
    /// when the name gives the rate already ("USt 19%").
    fn tax_name(&self, t: &Tax) -> String {
        let rate = locale::format_number(t.percent, self.locale);
        if t.name.contains(&rate) {
            t.name.clone()
        } else {
            format!(
                "{} {}",
                t.name,
                locale::format_percent(t.percent, self.locale)
            )
        }
    }
}

/// What every template reads besides the document: language, labels and
/// the company's letterhead.
pub(crate) fn base_json(company: &Company, logo: Option<&Logo>) -> serde_json::Value {
    let loc = Locale::parse(&company.locale);
    json!({ "lang": loc.lang(), "labels": locale::labels(loc), "company": company_json(company, logo) })
}

/// [`base_json`] for a document of `kind`: its own title, date label and
/// recipient heading among the labels.
fn doc_base_json(company: &Company, logo: Option<&Logo>, kind: DocKind) -> serde_json::Value {
    let mut data = base_json(company, logo);
    data["labels"] = locale::labels_json(Locale::parse(&company.locale), kind);
    data
}

fn company_json(c: &Company, logo: Option<&Logo>) -> serde_json::Value {
    json!({
        "name": c.name,
        "address_lines": address_lines(&c.address),
        "tax_id": c.branding.tax_id,
        "accent": c.branding.accent(),
        "footer": c.branding.footer,
        "payment_instructions": c.branding.payment_instructions,
        "logo": logo.map(|l| if l.content_type == "image/svg+xml" { "/logo.svg" } else { "/logo.png" }),
    })
}

/// The recipient block: the client's name, its billing address (else the
/// address of its primary location, else of any location) and tax id.
async fn client_json(tx: &mut TenantTx, id: ClientId) -> DomainResult<(String, serde_json::Value)> {
    let client = clients::get(tx, id).await?;
    let mut lines = client
        .billing_address
        .as_ref()
        .map(address_lines)
        .unwrap_or_default();
    if lines.is_empty() {
        let tenant = tx.tenant();
        let address: Option<serde_json::Value> = sqlx::query_scalar(
            "SELECT address FROM locations WHERE company_id = $1 AND client_id = $2 \
             ORDER BY is_primary DESC, id LIMIT 1",
        )
        .bind(tenant)
        .bind(id)
        .fetch_optional(tx.conn())
        .await?;
        lines = address
            .map(|a| address_lines(&Address::from_json(a)))
            .unwrap_or_default();
    }
    Ok((
        client.name.clone(),
        json!({ "name": client.name, "address_lines": lines, "tax_id": client.tax_id }),
    ))
}

/// What [`money::printed`] reads of stored lines.
fn figures(lines: &[InvoiceLine]) -> Vec<LineFigures> {
    lines
        .iter()
        .map(|l| LineFigures {
            gross: l.gross,
            discount: l.discount,
            discount_amount: l.discount_amount,
            taxes: l
                .taxes
                .iter()
                .map(|t| {
                    (
                        Tax {
                            name: t.name.clone(),
                            percent: t.percent,
                            inclusive: t.inclusive,
                            compound: t.compound,
                        },
                        t.amount,
                    )
                })
                .collect(),
        })
        .collect()
}

fn line_json(
    f: &Fmt,
    labels: &Labels,
    l: &InvoiceLine,
    p: &money::PrintedLine,
) -> serde_json::Value {
    let tax = l
        .taxes
        .iter()
        .map(|t| {
            let rate = locale::format_percent(t.percent, f.locale);
            if t.inclusive {
                format!("{rate} {}", labels.included)
            } else {
                rate
            }
        })
        .collect::<Vec<_>>()
        .join(" + ");
    json!({
        "description": l.description,
        "quantity": locale::format_number(l.quantity, f.locale),
        "unit_price": f.price(l.unit_price),
        "discount": if p.discount.is_zero() { String::new() } else { f.money(-p.discount) },
        "tax": tax,
        "amount": f.money(p.amount),
    })
}

/// Sets the lines of an invoice or a quote as printed, and
/// `line_discounts`: whether any has a discount of its own (then the table
/// shows the discount column).
fn set_lines(
    data: &mut serde_json::Value,
    f: &Fmt,
    labels: &Labels,
    lines: &[InvoiceLine],
    p: &Printed,
) {
    data["lines"] = lines
        .iter()
        .zip(&p.lines)
        .map(|(l, pl)| line_json(f, labels, l, pl))
        .collect();
    data["line_discounts"] = json!(p.lines.iter().any(|l| !l.discount.is_zero()));
}

/// What an invoice received: payments and credit applied.
struct Received {
    paid: Decimal,
    credit: Decimal,
}

/// The printed figures of a document whose computed total is `total`; a
/// disagreement (lines stored by other rules) is logged, and the document
/// still prints its real total.
fn printed_of(lines: &[InvoiceLine], total: Decimal, f: &Fmt, doc: &DocRef) -> Printed {
    let p = money::printed(&figures(lines), f.minor());
    if p.total != total {
        tracing::warn!(doc = %doc.key(), printed = %p.total, %total, "printed figures do not add up to the total");
    }
    p
}

fn row(label: impl Into<String>, value: String) -> serde_json::Value {
    json!({ "label": label.into(), "value": value, "strong": false, "note": false })
}

/// The totals block: subtotal, document discount, each added tax, total;
/// what the total includes; then, on invoices, what was received and the
/// balance due.
fn totals_json(
    f: &Fmt,
    labels: &Labels,
    p: &Printed,
    document_discount: Option<Discount>,
    total: Decimal,
    received: Option<Received>,
) -> serde_json::Value {
    let mut rows = vec![row(labels.subtotal, f.money(p.subtotal))];
    if !p.document_discount.is_zero() {
        let label = match document_discount {
            Some(Discount::Percent(pct)) => format!(
                "{} {}",
                labels.discount,
                locale::format_percent(pct, f.locale)
            ),
            _ => labels.discount.to_owned(),
        };
        rows.push(row(label, f.money(-p.document_discount)));
    }
    for (tax, amount) in &p.added_taxes {
        rows.push(row(f.tax_name(tax), f.money(*amount)));
    }
    rows.push(json!({ "label": labels.total, "value": f.money(total), "strong": received.is_none(), "note": false }));
    for (tax, amount) in &p.included_taxes {
        rows.push(
            json!({ "label": format!("{} {}", labels.includes, f.tax_name(tax)),
                          "value": f.money(*amount), "strong": false, "note": true }),
        );
    }
    if let Some(r) = received {
        rows.push(row(labels.paid, f.money(-r.paid)));
        if !r.credit.is_zero() {
            rows.push(row(labels.credit_applied, f.money(-r.credit)));
        }
        rows.push(
            json!({ "label": labels.balance_due, "value": f.money(total - r.paid - r.credit),
                          "strong": true, "note": false }),
        );
    }
    serde_json::Value::Array(rows)
}

/// The credit applied to an invoice (what of its `amount_paid` came from
/// the client's credit rather than a payment).
async fn credit_applied(tx: &mut TenantTx, id: InvoiceId) -> DomainResult<Decimal> {
    let tenant = tx.tenant();
    let credit: Decimal = sqlx::query_scalar(
        "SELECT COALESCE(-sum(amount), 0) FROM client_credits \
         WHERE company_id = $1 AND invoice_id = $2 AND amount < 0",
    )
    .bind(tenant)
    .bind(id)
    .fetch_one(tx.conn())
    .await?;
    Ok(credit)
}

/// The service period a recurring invoice bills: its period (a first
/// period billed pro rata from the day service started), last day
/// inclusive; `None` for other invoices.
async fn service_period(
    tx: &mut TenantTx,
    id: InvoiceId,
) -> DomainResult<Option<(NaiveDate, NaiveDate)>> {
    let tenant = tx.tenant();
    let row: Option<(Option<RecurringId>, Option<NaiveDate>)> = sqlx::query_as(
        "SELECT recurring_id, period_start FROM invoices WHERE company_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    let Some((Some(template), Some(start))) = row else {
        return Ok(None);
    };
    let t = recurring::get(tx, template).await?;
    let Some((first, end)) = billing_periods::period_containing(t.start_date, t.frequency, start)
    else {
        return Ok(None);
    };
    let from = match t.prorate_from {
        Some(p) if first == t.start_date && p > first && p < end => p,
        _ => start,
    };
    Ok(end.pred_opt().map(|last| (from, last)))
}

fn finish(
    doc: DocRef,
    client_id: ClientId,
    data: serde_json::Value,
    logo: Option<Logo>,
    file_name: String,
) -> View {
    let data = serde_json::to_vec(&data).unwrap_or_default();
    let mut h = Sha256::new();
    h.update(&data);
    if let Some(l) = &logo {
        h.update(l.content_type.as_bytes());
        h.update(&l.bytes);
    }
    View {
        doc,
        data,
        logo,
        digest: hex::encode(h.finalize()),
        file_name: sanitize_file_name(&file_name),
        client_id,
    }
}

fn sanitize_file_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The view of a document, read in `tx`.
pub async fn view(tx: &mut TenantTx, doc: &DocRef) -> DomainResult<View> {
    let company = company::get(tx).await?;
    let logo = company::logo(tx).await?;
    view_for(tx, doc, &company, logo).await
}

/// The views of several documents of one tenant, reading the company once.
pub async fn views(tx: &mut TenantTx, docs: &[DocRef]) -> DomainResult<Vec<View>> {
    let company = company::get(tx).await?;
    let logo = company::logo(tx).await?;
    let mut out = Vec::with_capacity(docs.len());
    for doc in docs {
        out.push(view_for(tx, doc, &company, logo.clone()).await?);
    }
    Ok(out)
}

/// What the documents of one company are written in: its locale, the
/// labels every document prints and the words of this kind of document.
struct Wording {
    locale: Locale,
    labels: &'static Labels,
    words: &'static DocLabels,
}

impl Wording {
    fn new(company: &Company, kind: DocKind) -> Wording {
        let locale = Locale::parse(&company.locale);
        Wording {
            locale,
            labels: locale::labels(locale),
            words: locale::doc_labels(locale, kind),
        }
    }

    /// Formats money, prices and dates of a document in `currency`.
    fn fmt(&self, currency: &str) -> Fmt {
        Fmt {
            locale: self.locale,
            currency: currency.to_owned(),
        }
    }
}

async fn view_for(
    tx: &mut TenantTx,
    doc: &DocRef,
    company: &Company,
    logo: Option<Logo>,
) -> DomainResult<View> {
    let w = Wording::new(company, doc.kind());
    let base = doc_base_json(company, logo.as_ref(), doc.kind());
    match doc {
        DocRef::Invoice { id } => invoice_view(tx, doc, *id, &w, base, logo).await,
        DocRef::Quote { id } => quote_view(tx, doc, *id, &w, base, logo).await,
        DocRef::Statement { client, period } => {
            statement_view(tx, doc, *client, period, &w, base, logo).await
        }
    }
}

/// An invoice: its lines and totals, then, once it is final (or something
/// was paid), what was paid and what credit was applied; a recurring
/// invoice also prints the service period it bills.
async fn invoice_view(
    tx: &mut TenantTx,
    doc: &DocRef,
    id: InvoiceId,
    w: &Wording,
    mut data: serde_json::Value,
    logo: Option<Logo>,
) -> DomainResult<View> {
    let inv = invoices::get(tx, id).await?;
    let f = w.fmt(&inv.currency);
    let (_, client) = client_json(tx, inv.client_id).await?;
    let labels = w.labels;
    let status_label = match inv.status {
        InvoiceStatus::Draft => Some(labels.draft),
        InvoiceStatus::Void => Some(labels.void),
        InvoiceStatus::Paid => Some(labels.paid_status),
        InvoiceStatus::Overdue => Some(labels.overdue),
        _ => None,
    };
    let notes = [inv.notes.as_deref(), inv.terms.as_deref()]
        .into_iter()
        .flatten()
        .filter(|n| !n.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n\n");
    let service = service_period(tx, inv.id).await?;
    data["client"] = client;
    data["document"] = json!({
        "title": w.words.title,
        "number": inv.number,
        "status_label": status_label,
        "issue_date": f.date(inv.issue_date),
        "due_date": f.date(inv.due_date),
        "valid_until": null,
        "service_period": service.map(|(a, b)| f.dates(a, b)),
        "notes": (!notes.is_empty()).then_some(notes),
        "period_from": null, "period_to": null, "available_credit": null,
    });
    let printed = printed_of(&inv.lines, inv.total, &f, doc);
    set_lines(&mut data, &f, labels, &inv.lines, &printed);
    let received = if !inv.amount_paid.is_zero() || inv.status != InvoiceStatus::Draft {
        let credit = credit_applied(tx, inv.id).await?;
        Some(Received {
            paid: inv.amount_paid - credit,
            credit,
        })
    } else {
        None
    };
    data["totals"] = totals_json(&f, labels, &printed, inv.discount, inv.total, received);
    set_no_entries(&mut data);
    let file = pdf_file_name(inv.number.as_deref(), inv.id);
    Ok(finish(doc.clone(), inv.client_id, data, logo, file))
}

/// A quote: its lines and totals, valid until a date.
async fn quote_view(
    tx: &mut TenantTx,
    doc: &DocRef,
    id: QuoteId,
    w: &Wording,
    mut data: serde_json::Value,
    logo: Option<Logo>,
) -> DomainResult<View> {
    let q = quotes::get(tx, id).await?;
    let f = w.fmt(&q.currency);
    let (_, client) = client_json(tx, q.client_id).await?;
    data["client"] = client;
    data["document"] = json!({
        "title": w.words.title,
        "number": q.number,
        "status_label": q.number.is_none().then_some(w.labels.draft),
        "issue_date": f.date(q.issue_date),
        "due_date": null,
        "valid_until": f.date(q.valid_until),
        "service_period": null,
        "notes": null, "period_from": null, "period_to": null, "available_credit": null,
    });
    let printed = printed_of(&q.lines, q.total, &f, doc);
    set_lines(&mut data, &f, w.labels, &q.lines, &printed);
    data["totals"] = totals_json(&f, w.labels, &printed, q.discount, q.total, None);
    set_no_entries(&mut data);
    let file = pdf_file_name(q.number.as_deref(), q.id);
    Ok(finish(doc.clone(), q.client_id, data, logo, file))
}

/// An invoice or a quote has no statement entries or balances.
fn set_no_entries(data: &mut serde_json::Value) {
    data["entries"] = json!([]);
    data["opening_balance"] = serde_json::Value::Null;
    data["closing_balance"] = serde_json::Value::Null;
}

/// The PDF's file name of an invoice or a quote: its number, or
/// `draft-<id>` before it has one.
fn pdf_file_name(number: Option<&str>, id: impl std::fmt::Display) -> String {
    let name = number.map_or_else(|| format!("draft-{id}"), str::to_owned);
    format!("{name}.pdf")
}

/// A client's statement for a period: no lines or totals, the entries
/// with their running balance between the opening and closing balances,
/// and the credit left.
async fn statement_view(
    tx: &mut TenantTx,
    doc: &DocRef,
    client: ClientId,
    period: &Period,
    w: &Wording,
    mut data: serde_json::Value,
    logo: Option<Logo>,
) -> DomainResult<View> {
    let st = payments::statement(tx, client, &period.currency, period.from, period.to).await?;
    let f = w.fmt(&st.currency);
    let (client_name, client_data) = client_json(tx, client).await?;
    data["client"] = client_data;
    data["document"] = json!({
        "title": w.words.title,
        "number": null,
        "status_label": null,
        "issue_date": f.date(period.to),
        "due_date": null, "valid_until": null, "service_period": null, "notes": null,
        "period_from": f.date(period.from),
        "period_to": f.date(period.to),
        "available_credit": (!st.credit.is_zero()).then(|| f.money(st.credit)),
    });
    data["lines"] = json!([]);
    data["line_discounts"] = json!(false);
    data["totals"] = json!([]);
    data["entries"] = st
        .entries
        .iter()
        .map(|e| statement_entry_json(&f, w.labels, e))
        .collect();
    data["opening_balance"] = json!(f.money(st.opening_balance));
    data["closing_balance"] = json!(f.money(st.closing_balance));
    let file = format!("statement-{client_name}-{}-{}.pdf", period.from, period.to);
    Ok(finish(doc.clone(), client, data, logo, file))
}

/// One row of a statement: an invoice is a debit, a payment a credit, a
/// refund a debit again; credit applied to an invoice names the amount in
/// its description and moves neither column.
fn statement_entry_json(
    f: &Fmt,
    labels: &Labels,
    e: &payments::StatementEntry,
) -> serde_json::Value {
    let reference = e.reference.as_deref().unwrap_or_default();
    let (what, debit, credit) = match e.kind.as_str() {
        "credit_applied" => (
            format!(
                "{} {reference}: {}",
                labels.entry_credit_applied,
                f.money(e.applied.unwrap_or_default())
            ),
            String::new(),
            String::new(),
        ),
        kind => {
            let word = match kind {
                "invoice" => labels.entry_invoice,
                "refund" => labels.entry_refund,
                _ => labels.entry_payment,
            };
            let (debit, credit) = if e.amount.is_sign_negative() {
                (String::new(), f.money(-e.amount))
            } else {
                (f.money(e.amount), String::new())
            };
            (
                format!("{word} {reference}").trim_end().to_owned(),
                debit,
                credit,
            )
        }
    };
    json!({ "date": f.date(e.date), "description": what,
            "debit": debit, "credit": credit, "balance": f.money(e.balance) })
}

/// The object-store name of a rendering (under the tenant's prefix).
pub fn object_name(view: &View) -> String {
    let short = &view.digest[..16];
    match &view.doc {
        DocRef::Statement { client, .. } => format!("statements/{client}/{short}.pdf"),
        other => format!(
            "{}s/{}/{short}.pdf",
            other.kind().as_str(),
            other.subject_id()
        ),
    }
}

/// The digests of the recorded renderings of `docs` (absent: never rendered),
/// in the order of `docs`.
pub async fn rendered_digests(
    tx: &mut TenantTx,
    docs: &[DocRef],
) -> DomainResult<Vec<Option<String>>> {
    let tenant = tx.tenant();
    let kinds: Vec<&str> = docs.iter().map(|d| d.kind().as_str()).collect();
    let subjects: Vec<Uuid> = docs.iter().map(DocRef::subject_id).collect();
    let variants: Vec<String> = docs.iter().map(DocRef::variant).collect();
    let rows: Vec<(i32, Option<String>)> = sqlx::query_as(
        "SELECT w.n::int, d.data_digest FROM unnest($2::text[], $3::uuid[], $4::text[]) WITH ORDINALITY AS w(kind, subject, variant, n) \
         LEFT JOIN documents d ON d.company_id = $1 AND d.kind = w.kind AND d.subject_id = w.subject AND d.variant = w.variant \
         ORDER BY w.n",
    )
    .bind(tenant)
    .bind(&kinds)
    .bind(&subjects)
    .bind(&variants)
    .fetch_all(tx.conn())
    .await?;
    Ok(rows.into_iter().map(|(_, d)| d).collect())
}

/// Records renderings (view, object key, size) as their documents'
/// current ones, in one statement.
pub async fn record_rendered_many(
    tx: &mut TenantTx,
    done: &[(&View, String, usize)],
) -> DomainResult<()> {
    let (tenant, now) = (tx.tenant(), tx.now());
    let kinds: Vec<&str> = done.iter().map(|(v, _, _)| v.doc.kind().as_str()).collect();
    let subjects: Vec<Uuid> = done.iter().map(|(v, _, _)| v.doc.subject_id()).collect();
    let variants: Vec<String> = done.iter().map(|(v, _, _)| v.doc.variant()).collect();
    let digests: Vec<&str> = done.iter().map(|(v, _, _)| v.digest.as_str()).collect();
    let keys: Vec<&str> = done.iter().map(|(_, k, _)| k.as_str()).collect();
    let sizes: Vec<i64> = done.iter().map(|(_, _, n)| *n as i64).collect();
    sqlx::query(
        "INSERT INTO documents (company_id, kind, subject_id, variant, data_digest, object_key, size_bytes, rendered_at) \
         SELECT $1, * , $8 FROM unnest($2::text[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::bigint[]) \
         ON CONFLICT (company_id, kind, subject_id, variant) DO UPDATE \
         SET data_digest = EXCLUDED.data_digest, object_key = EXCLUDED.object_key, \
             size_bytes = EXCLUDED.size_bytes, rendered_at = EXCLUDED.rendered_at",
    )
    .bind(tenant)
    .bind(&kinds)
    .bind(&subjects)
    .bind(&variants)
    .bind(&digests)
    .bind(&keys)
    .bind(&sizes)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Checks a statement request: a currency code and `from` ≤ `to`, at most
/// ten years.
pub fn statement_period(
    currency: Option<String>,
    default_currency: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> DomainResult<Period> {
    let mut v = crate::kernel::validation::ValidationErrors::new();
    let currency = currency
        .map(|c| c.trim().to_ascii_uppercase())
        .unwrap_or_else(|| default_currency.to_owned());
    if money::minor_units(&currency).is_none() {
        v.add(
            "currency",
            "invalid",
            "currency must be a supported ISO 4217 code",
        );
    }
    if from > to {
        v.add("from", "invalid", "from must be on or before to");
    } else if (to - from).num_days() > 3660 {
        v.add("to", "invalid", "a statement covers at most ten years");
    }
    v.finish()?;
    Ok(Period { currency, from, to })
}

/// The tenant a view belongs to, for keys.
pub fn object_key(tenant: TenantId, view: &View) -> String {
    crate::kernel::files::Files::key(tenant, &object_name(view))
}
