//! Contacts from a file, matched on their client and `lower(email)`, or
//! without an e-mail on their client and `lower(name)`.

use std::collections::HashMap;

use super::file::{Errors, Parsed, parse_bool};
use super::{Found, Plan, Seen, clients_by_name, lookup, natural_key, resolve_client};
use crate::customers::contacts::NewContact;
use crate::kernel::validation::ValidationErrors;
use crate::{ClientId, ContactId, DomainResult, TenantTx};

pub(super) async fn plan(tx: &mut TenantTx, p: &Parsed, errs: &mut Errors) -> DomainResult<Plan> {
    let tenant = tx.tenant();
    let clients = clients_by_name(tx).await?;
    type Existing = (
        ContactId,
        ClientId,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        bool,
        bool,
    );
    let existing: Vec<Existing> = sqlx::query_as(
        "SELECT id, client_id, name, email, phone, title, is_primary, is_billing \
         FROM contacts WHERE company_id = $1",
    )
    .bind(tenant)
    .fetch_all(tx.conn())
    .await?;
    let mut by_key: HashMap<(ClientId, String), Vec<&Existing>> = HashMap::new();
    for e in &existing {
        by_key
            .entry(natural_key(e.1, e.3.as_deref(), &e.2))
            .or_default()
            .push(e);
    }
    let mut seen = Seen::new();
    let mut primary_seen: Seen<ClientId> = Seen::new();
    let (mut new, mut changed, mut same) = (Vec::new(), Vec::new(), 0);
    for i in p.rows() {
        let before = errs.0.len();
        let client = resolve_client(p, i, &clients, errs);
        let is_primary = parse_bool(p, i, "is_primary", errs);
        let is_billing = parse_bool(p, i, "is_billing", errs);
        let mut v = ValidationErrors::new();
        let c = crate::customers::contacts::validate(
            &mut v,
            NewContact {
                name: p.text(i, "name").unwrap_or_default(),
                email: p.text(i, "email"),
                phone: p.text(i, "phone"),
                title: p.text(i, "title"),
                is_primary,
                is_billing,
                portal_access: false,
                portal_role: Default::default(),
            },
        );
        errs.extend(i, v, &[]);
        let Some(client) = client else { continue };
        if errs.0.len() > before {
            continue;
        }
        let k = natural_key(client, c.email.as_deref(), &c.name);
        let field = if c.email.is_some() { "email" } else { "name" };
        if !seen.first(errs, i, k.clone(), field) {
            continue;
        }
        if c.is_primary && !primary_seen.first(errs, i, client, "is_primary") {
            continue;
        }
        match lookup(&by_key, &k) {
            Found::None => new.push((ContactId::new(), client, c)),
            Found::One(e) => {
                let unchanged = e.2 == c.name
                    && e.3 == c.email
                    && e.4 == c.phone
                    && e.5 == c.title
                    && e.6 == c.is_primary
                    && e.7 == c.is_billing;
                if unchanged {
                    same += 1;
                } else {
                    changed.push((e.0, client, c));
                }
            }
            Found::Many => errs.add(
                i,
                field,
                "ambiguous",
                "several contacts of this client match this row",
            ),
        }
    }
    Ok(Plan::Contacts(new, changed, same))
}
