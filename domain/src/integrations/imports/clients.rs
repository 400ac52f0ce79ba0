//! Clients from a file, matched on `lower(name)`.

use std::collections::HashMap;

use rust_decimal::Decimal;

use super::file::{Errors, Parsed};
use super::{Found, Plan, Seen, lookup};
use crate::customers::clients::NewClient;
use crate::identity::company::Address;
use crate::kernel::validation::ValidationErrors;
use crate::{ClientId, DomainResult, TenantTx};

pub(super) async fn plan(tx: &mut TenantTx, p: &Parsed, errs: &mut Errors) -> DomainResult<Plan> {
    let tenant = tx.tenant();
    #[derive(sqlx::FromRow)]
    struct Existing {
        id: ClientId,
        name: String,
        email: Option<String>,
        phone: Option<String>,
        website: Option<String>,
        tax_id: Option<String>,
        notes: Option<String>,
        email_domains: Vec<String>,
        hourly_rate: Option<Decimal>,
        #[sqlx(json(nullable))]
        billing_address: Option<Address>,
    }
    let existing: Vec<Existing> = sqlx::query_as(
        "SELECT id, name, email, phone, website, tax_id, notes, email_domains, hourly_rate, \
         billing_address FROM clients WHERE company_id = $1",
    )
    .bind(tenant)
    .fetch_all(tx.conn())
    .await?;
    let mut by_name: HashMap<String, Vec<&Existing>> = HashMap::new();
    let mut domain_owner: HashMap<&str, ClientId> = HashMap::new();
    for e in &existing {
        by_name.entry(e.name.to_lowercase()).or_default().push(e);
        for d in &e.email_domains {
            domain_owner.insert(d, e.id);
        }
    }
    let mut seen = Seen::new();
    let mut file_domains: HashMap<String, usize> = HashMap::new();
    let (mut new, mut changed, mut same) = (Vec::new(), Vec::new(), 0);
    for i in p.rows() {
        let mut v = ValidationErrors::new();
        let domains: Vec<String> = p
            .cell(i, "email_domains")
            .map(|d| {
                d.split([';', ','])
                    .map(str::trim)
                    .filter(|d| !d.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let mut f = crate::customers::clients::validate(
            &mut v,
            NewClient {
                name: p.text(i, "name").unwrap_or_default(),
                email: p.text(i, "email"),
                phone: p.text(i, "phone"),
                website: p.text(i, "website"),
                tax_id: p.text(i, "tax_id"),
                billing_address: None,
                notes: p.text(i, "notes"),
                email_domains: domains,
                hourly_rate: None,
            },
        );
        let ok = v.is_empty();
        errs.extend(i, v, &[]);
        if !ok || !seen.first(errs, i, f.name.to_lowercase(), "name") {
            continue;
        }
        let matched = match lookup(&by_name, &f.name.to_lowercase()) {
            Found::None => None,
            Found::One(e) => Some(*e),
            Found::Many => {
                errs.add(
                    i,
                    "name",
                    "ambiguous",
                    "several clients already have this name",
                );
                continue;
            }
        };
        let id = matched.map(|e| e.id).unwrap_or_else(ClientId::new);
        let mut taken = Vec::new();
        for d in &f.email_domains {
            let other_client = domain_owner.get(d.as_str()).is_some_and(|o| *o != id);
            let other_row = file_domains.get(d).is_some_and(|r| *r != i);
            if other_client || other_row {
                taken.push(d.clone());
            }
        }
        if !taken.is_empty() {
            errs.add(
                i,
                "email_domains",
                "taken",
                format!("already registered to another client: {}", taken.join(", ")),
            );
            continue;
        }
        for d in &f.email_domains {
            file_domains.insert(d.clone(), i);
        }
        match matched {
            None => new.push((id, f)),
            Some(e) => {
                // Not in the file: kept as they are.
                f.hourly_rate = e.hourly_rate;
                f.billing_address = e.billing_address.clone();
                let unchanged = e.name == f.name
                    && e.email == f.email
                    && e.phone == f.phone
                    && e.website == f.website
                    && e.tax_id == f.tax_id
                    && e.notes == f.notes
                    && e.email_domains == f.email_domains;
                if unchanged {
                    same += 1;
                } else {
                    changed.push((id, f));
                }
            }
        }
    }
    Ok(Plan::Clients(new, changed, same))
}
