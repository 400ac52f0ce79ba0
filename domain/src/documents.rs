//! Documents: what an invoice, a quote or a statement shows, as the data a
//! template is rendered from, and the registry of current renderings.
//!
//! The view is fully formatted for the company's locale (money, numbers,
//! dates, labels), so templates only lay text out. Its digest (SHA-256 of
//! the data and the logo) names a rendering: a changed document has a new
//! digest, so a stale PDF is never served as current.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::company::{self, Address, Company, Logo};
use crate::invoices::{self, InvoiceLine, InvoiceStatus};
use crate::locale::{self, Locale};
use crate::{
    ClientId, DomainResult, InvoiceId, QuoteId, TenantId, TenantTx, clients, money, payments,
    quotes,
};

/// What kind of document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DocKind {
    Invoice,
    Quote,
    Statement,
}

impl DocKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DocKind::Invoice => "invoice",
            DocKind::Quote => "quote",
            DocKind::Statement => "statement",
        }
    }
}

/// A statement's currency and period.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Period {
    pub currency: String,
    #[serde(deserialize_with = "crate::dates::de")]
    pub from: NaiveDate,
    #[serde(deserialize_with = "crate::dates::de")]
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
    fn money(&self, x: Decimal) -> String {
        let minor = money::minor_units(&self.currency).unwrap_or(2);
        locale::format_money(money::to_minor(x, minor), &self.currency, self.locale)
    }
    fn date(&self, d: NaiveDate) -> String {
        locale::format_date(d, self.locale)
    }
}

/// What every template reads besides the document: language, labels and
/// the company's letterhead.
pub(crate) fn base_json(company: &Company, logo: Option<&Logo>) -> serde_json::Value {
    let loc = Locale::parse(&company.locale);
    json!({ "lang": loc.lang(), "labels": locale::labels(loc), "company": company_json(company, logo) })
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

async fn client_json(tx: &mut TenantTx, id: ClientId) -> DomainResult<(String, serde_json::Value)> {
    let client = clients::get(tx, id).await?;
    let tenant = tx.tenant();
    let address: Option<serde_json::Value> = sqlx::query_scalar(
        "SELECT address FROM locations WHERE company_id = $1 AND client_id = $2 \
         ORDER BY is_primary DESC, id LIMIT 1",
    )
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    let lines = address
        .map(|a| address_lines(&Address::from_json(a)))
        .unwrap_or_default();
    Ok((
        client.name.clone(),
        json!({ "name": client.name, "address_lines": lines, "tax_id": client.tax_id }),
    ))
}

fn line_json(f: &Fmt, l: &InvoiceLine) -> serde_json::Value {
    let tax = l
        .taxes
        .iter()
        .map(|t| locale::format_percent(t.percent, f.locale))
        .collect::<Vec<_>>()
        .join(" + ");
    json!({
        "description": l.description,
        "quantity": locale::format_number(l.quantity, f.locale),
        "unit_price": f.money(l.unit_price),
        "tax": tax,
        "amount": f.money(l.net),
    })
}

struct Sums {
    subtotal: Decimal,
    discount: Decimal,
    tax: Decimal,
    total: Decimal,
    paid: Option<Decimal>,
}

fn totals_json(f: &Fmt, labels: &locale::Labels, s: &Sums) -> serde_json::Value {
    let mut rows =
        vec![json!({ "label": labels.subtotal, "value": f.money(s.subtotal), "strong": false })];
    if !s.discount.is_zero() {
        rows.push(
            json!({ "label": labels.discount, "value": f.money(-s.discount), "strong": false }),
        );
    }
    rows.push(json!({ "label": labels.tax_total, "value": f.money(s.tax), "strong": false }));
    rows.push(
        json!({ "label": labels.total, "value": f.money(s.total), "strong": s.paid.is_none() }),
    );
    if let Some(paid) = s.paid {
        rows.push(json!({ "label": labels.paid, "value": f.money(paid), "strong": false }));
        rows.push(json!({ "label": labels.balance_due, "value": f.money(s.total - paid), "strong": true }));
    }
    serde_json::Value::Array(rows)
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

async fn view_for(
    tx: &mut TenantTx,
    doc: &DocRef,
    company: &Company,
    logo: Option<Logo>,
) -> DomainResult<View> {
    let loc = Locale::parse(&company.locale);
    let labels = locale::labels(loc);
    let base = || base_json(company, logo.as_ref());
    match doc {
        DocRef::Invoice { id } => {
            let inv = invoices::get(tx, *id).await?;
            let f = Fmt {
                locale: loc,
                currency: inv.currency.clone(),
            };
            let (_, client) = client_json(tx, inv.client_id).await?;
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
            let mut data = base();
            data["client"] = client;
            data["document"] = json!({
                "title": labels.invoice,
                "number": inv.number,
                "status_label": status_label,
                "issue_date": f.date(inv.issue_date),
                "due_date": f.date(inv.due_date),
                "valid_until": null,
                "notes": (!notes.is_empty()).then_some(notes),
                "period_from": null, "period_to": null,
            });
            data["lines"] = inv.lines.iter().map(|l| line_json(&f, l)).collect();
            let paid = (!inv.amount_paid.is_zero() || inv.status != InvoiceStatus::Draft)
                .then_some(inv.amount_paid);
            data["totals"] = totals_json(
                &f,
                labels,
                &Sums {
                    subtotal: inv.subtotal,
                    discount: inv.discount_total,
                    tax: inv.tax_total,
                    total: inv.total,
                    paid,
                },
            );
            data["entries"] = json!([]);
            data["opening_balance"] = serde_json::Value::Null;
            data["closing_balance"] = serde_json::Value::Null;
            let name = inv
                .number
                .clone()
                .unwrap_or_else(|| format!("draft-{}", inv.id));
            Ok(finish(
                doc.clone(),
                inv.client_id,
                data,
                logo,
                format!("{name}.pdf"),
            ))
        }
        DocRef::Quote { id } => {
            let q = quotes::get(tx, *id).await?;
            let f = Fmt {
                locale: loc,
                currency: q.currency.clone(),
            };
            let (_, client) = client_json(tx, q.client_id).await?;
            let mut data = base();
            data["client"] = client;
            data["document"] = json!({
                "title": labels.quote,
                "number": q.number,
                "status_label": q.number.is_none().then_some(labels.draft),
                "issue_date": f.date(q.issue_date),
                "due_date": null,
                "valid_until": f.date(q.valid_until),
                "notes": null, "period_from": null, "period_to": null,
            });
            data["lines"] = q.lines.iter().map(|l| line_json(&f, l)).collect();
            data["totals"] = totals_json(
                &f,
                labels,
                &Sums {
                    subtotal: q.subtotal,
                    discount: q.discount_total,
                    tax: q.tax_total,
                    total: q.total,
                    paid: None,
                },
            );
            data["entries"] = json!([]);
            data["opening_balance"] = serde_json::Value::Null;
            data["closing_balance"] = serde_json::Value::Null;
            let name = q
                .number
                .clone()
                .unwrap_or_else(|| format!("draft-{}", q.id));
            Ok(finish(
                doc.clone(),
                q.client_id,
                data,
                logo,
                format!("{name}.pdf"),
            ))
        }
        DocRef::Statement { client, period } => {
            let st =
                payments::statement(tx, *client, &period.currency, period.from, period.to).await?;
            let f = Fmt {
                locale: loc,
                currency: st.currency.clone(),
            };
            let (client_name, client_data) = client_json(tx, *client).await?;
            let (payment, refund) = match loc.lang() {
                "de" => ("Zahlung", "Erstattung"),
                "fr" => ("Paiement", "Remboursement"),
                _ => ("Payment", "Refund"),
            };
            let mut data = base();
            data["client"] = client_data;
            data["document"] = json!({
                "title": labels.statement,
                "number": null,
                "status_label": null,
                "issue_date": f.date(period.to),
                "due_date": null, "valid_until": null, "notes": null,
                "period_from": f.date(period.from),
                "period_to": f.date(period.to),
            });
            data["lines"] = json!([]);
            data["totals"] = json!([]);
            data["entries"] = st
                .entries
                .iter()
                .map(|e| {
                    let what = match e.kind.as_str() {
                        "invoice" => labels.invoice,
                        "refund" => refund,
                        _ => payment,
                    };
                    let description = match &e.reference {
                        Some(r) => format!("{what} {r}"),
                        None => what.to_owned(),
                    };
                    let (debit, credit) = if e.amount.is_sign_negative() {
                        (String::new(), f.money(-e.amount))
                    } else {
                        (f.money(e.amount), String::new())
                    };
                    json!({ "date": f.date(e.date), "description": description,
                            "debit": debit, "credit": credit, "balance": f.money(e.balance) })
                })
                .collect();
            data["opening_balance"] = json!(f.money(st.opening_balance));
            data["closing_balance"] = json!(f.money(st.closing_balance));
            let file = format!("statement-{client_name}-{}-{}.pdf", period.from, period.to);
            Ok(finish(doc.clone(), *client, data, logo, file))
        }
    }
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
    let mut v = crate::validation::ValidationErrors::new();
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
    crate::files::Files::key(tenant, &object_name(view))
}
