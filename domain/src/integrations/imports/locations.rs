//! Locations from a file, matched on their client and `lower(name)`.

use std::collections::HashMap;

use super::file::{Errors, Parsed, check_width};
use super::{Found, Plan, Seen, clients_by_name, lookup, required_client, resolve_client};
use crate::customers::locations::NewLocation;
use crate::identity::company::Address;
use crate::kernel::validation::ValidationErrors;
use crate::{ClientId, DomainResult, LocationId, TenantTx};

pub(super) struct LocationRow {
    id: LocationId,
    client: ClientId,
    l: NewLocation,
}

pub(super) async fn plan(tx: &mut TenantTx, p: &Parsed, errs: &mut Errors) -> DomainResult<Plan> {
    let tenant = tx.tenant();
    let clients = clients_by_name(tx).await?;
    type Existing = (
        LocationId,
        ClientId,
        String,
        serde_json::Value,
        Option<String>,
        Option<String>,
    );
    let existing: Vec<Existing> = sqlx::query_as(
        "SELECT id, client_id, name, address, phone, notes FROM locations WHERE company_id = $1",
    )
    .bind(tenant)
    .fetch_all(tx.conn())
    .await?;
    let mut by_key: HashMap<(ClientId, String), Vec<&Existing>> = HashMap::new();
    for e in &existing {
        by_key.entry((e.1, e.2.to_lowercase())).or_default().push(e);
    }
    let mut seen = Seen::new();
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
        let mut v = ValidationErrors::new();
        let l = crate::customers::locations::validate(
            &mut v,
            NewLocation {
                name: p.text(i, "name").unwrap_or_default(),
                address: Address {
                    line1: p.text(i, "line1"),
                    line2: p.text(i, "line2"),
                    city: p.text(i, "city"),
                    region: p.text(i, "region"),
                    postal_code: p.text(i, "postal_code"),
                    country: p.text(i, "country"),
                },
                phone: p.text(i, "phone"),
                notes: p.text(i, "notes"),
                is_primary: false,
            },
        );
        errs.extend(i, v, &[]);
        let Some(client) = client else { continue };
        if errs.0.len() > before || !seen.first(errs, i, (client, l.name.to_lowercase()), "name") {
            continue;
        }
        match lookup(&by_key, &(client, l.name.to_lowercase())) {
            Found::None => new.push(LocationRow {
                id: LocationId::new(),
                client,
                l,
            }),
            Found::One(e) => {
                let unchanged = e.2 == l.name
                    && Address::from_json(e.3.clone()) == l.address
                    && e.4 == l.phone
                    && e.5 == l.notes;
                if unchanged {
                    same += 1;
                } else {
                    changed.push(LocationRow { id: e.0, client, l });
                }
            }
            Found::Many => errs.add(
                i,
                "name",
                "ambiguous",
                "several locations of this client have this name",
            ),
        }
    }
    Ok(Plan::Locations(new, changed, same))
}

pub(super) async fn write(
    tx: &mut TenantTx,
    rows: &[LocationRow],
    insert: bool,
) -> DomainResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let (tenant, now) = (tx.tenant(), tx.now());
    let sql = if insert {
        "INSERT INTO locations (id, company_id, client_id, name, address, phone, notes, \
         is_primary, created_at, updated_at) \
         SELECT u.id, $1, u.client, u.name, u.address, u.phone, u.notes, false, $2, $2 \
         FROM unnest($3::uuid[], $4::uuid[], $5::text[], $6::jsonb[], $7::text[], $8::text[]) \
         AS u(id, client, name, address, phone, notes)"
    } else {
        "UPDATE locations l SET name = u.name, address = u.address, phone = u.phone, \
         notes = u.notes, updated_at = $2 \
         FROM unnest($3::uuid[], $4::uuid[], $5::text[], $6::jsonb[], $7::text[], $8::text[]) \
         AS u(id, client, name, address, phone, notes) \
         WHERE l.company_id = $1 AND l.id = u.id AND l.client_id = u.client"
    };
    sqlx::query(sql)
        .bind(tenant)
        .bind(now)
        .bind(rows.iter().map(|r| r.id).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.client).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.l.name.clone()).collect::<Vec<_>>())
        .bind(
            rows.iter()
                .map(|r| r.l.address.to_json())
                .collect::<Vec<_>>(),
        )
        .bind(rows.iter().map(|r| r.l.phone.clone()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.l.notes.clone()).collect::<Vec<_>>())
        .execute(tx.conn())
        .await?;
    Ok(())
}
