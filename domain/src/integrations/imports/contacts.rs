//! Contacts from a file, matched on their client and `lower(email)`, or
//! without an e-mail on their client and `lower(name)`.

use std::collections::HashMap;

use super::file::{Errors, Parsed, check_width, parse_bool};
use super::{Found, Plan, Seen, clients_by_name, lookup, required_client, resolve_client};
use crate::customers::contacts::NewContact;
use crate::kernel::validation::ValidationErrors;
use crate::{ClientId, ContactId, DomainResult, TenantTx};

pub(super) struct ContactRow {
    id: ContactId,
    client: ClientId,
    c: NewContact,
}

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
    // Key: (client, "e:" + email) or (client, "n:" + name) for those without e-mail.
    let mut by_key: HashMap<(ClientId, String), Vec<&Existing>> = HashMap::new();
    for e in &existing {
        let k = match &e.3 {
            Some(m) => format!("e:{}", m.to_lowercase()),
            None => format!("n:{}", e.2.to_lowercase()),
        };
        by_key.entry((e.1, k)).or_default().push(e);
    }
    let mut seen = Seen::new();
    let mut primary_seen: Seen<ClientId> = Seen::new();
    let (mut new, mut changed, mut same) = (Vec::new(), Vec::new(), 0);
    for i in 0..p.len() {
        if p.skipped(i) {
            continue;
        }
        if !check_width(p, i, errs) {
            continue;
        }
        let before = errs.0.len();
        required_client(p, i, errs);
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
            },
        );
        errs.extend(i, v, &[]);
        let Some(client) = client else { continue };
        if errs.0.len() > before {
            continue;
        }
        let k = match &c.email {
            Some(m) => format!("e:{}", m.to_lowercase()),
            None => format!("n:{}", c.name.to_lowercase()),
        };
        let field = if c.email.is_some() { "email" } else { "name" };
        if !seen.first(errs, i, (client, k.clone()), field) {
            continue;
        }
        if c.is_primary && !primary_seen.first(errs, i, client, "is_primary") {
            continue;
        }
        match lookup(&by_key, &(client, k)) {
            Found::None => new.push(ContactRow {
                id: ContactId::new(),
                client,
                c,
            }),
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
                    changed.push(ContactRow { id: e.0, client, c });
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

pub(super) async fn write(
    tx: &mut TenantTx,
    rows: &[ContactRow],
    insert: bool,
) -> DomainResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let (tenant, now) = (tx.tenant(), tx.now());
    let sql = if insert {
        "INSERT INTO contacts (id, company_id, client_id, name, email, phone, title, is_primary, \
         is_billing, created_at, updated_at) \
         SELECT u.id, $1, u.client, u.name, u.email, u.phone, u.title, u.pri, u.bill, $2, $2 \
         FROM unnest($3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bool[], $10::bool[]) \
         AS u(id, client, name, email, phone, title, pri, bill)"
    } else {
        "UPDATE contacts c SET name = u.name, email = u.email, phone = u.phone, title = u.title, \
         is_primary = u.pri, is_billing = u.bill, updated_at = $2 \
         FROM unnest($3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bool[], $10::bool[]) \
         AS u(id, client, name, email, phone, title, pri, bill) \
         WHERE c.company_id = $1 AND c.id = u.id AND c.client_id = u.client"
    };
    sqlx::query(sql)
        .bind(tenant)
        .bind(now)
        .bind(rows.iter().map(|r| r.id).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.client).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.c.name.clone()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.c.email.clone()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.c.phone.clone()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.c.title.clone()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.c.is_primary).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.c.is_billing).collect::<Vec<_>>())
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// A contact made primary by the file leaves its client's others not.
pub(super) async fn clear_other_primaries<'a>(
    tx: &mut TenantTx,
    rows: impl Iterator<Item = &'a ContactRow>,
) -> DomainResult<()> {
    let (ids, clients): (Vec<ContactId>, Vec<ClientId>) = rows
        .filter(|r| r.c.is_primary)
        .map(|r| (r.id, r.client))
        .unzip();
    if ids.is_empty() {
        return Ok(());
    }
    let tenant = tx.tenant();
    sqlx::query(
        "UPDATE contacts SET is_primary = false WHERE company_id = $1 AND client_id = ANY($2) \
         AND is_primary AND NOT (id = ANY($3))",
    )
    .bind(tenant)
    .bind(clients)
    .bind(ids)
    .execute(tx.conn())
    .await?;
    Ok(())
}
