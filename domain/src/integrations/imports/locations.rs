//! Locations from a file, matched on their client and `lower(name)`.

use std::collections::HashMap;

use super::file::{Errors, Parsed};
use super::{Found, Plan, Seen, clients_by_name, lookup, resolve_client};
use crate::customers::locations::NewLocation;
use crate::identity::company::Address;
use crate::kernel::validation::ValidationErrors;
use crate::{ClientId, DomainResult, LocationId, TenantTx};

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
        bool,
    );
    let existing: Vec<Existing> = sqlx::query_as(
        "SELECT id, client_id, name, address, phone, notes, is_primary FROM locations \
         WHERE company_id = $1",
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
    for i in p.rows() {
        let before = errs.0.len();
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
            Found::None => new.push((LocationId::new(), client, l)),
            Found::One(e) => {
                let unchanged = e.2 == l.name
                    && Address::from_json(e.3.clone()) == l.address
                    && e.4 == l.phone
                    && e.5 == l.notes;
                if unchanged {
                    same += 1;
                } else {
                    // Not in the file: kept as it is.
                    let l = NewLocation {
                        is_primary: e.6,
                        ..l
                    };
                    changed.push((e.0, client, l));
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
