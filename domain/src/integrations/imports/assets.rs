//! Assets from a file, matched on their client and `lower(serial)`, or
//! without a serial on their client and `lower(name)`. Every write is
//! recorded in the assets' history.

use std::collections::HashMap;

use rust_decimal::Decimal;

use super::file::{Errors, Parsed, parse_date};
use super::{Found, Plan, Seen, clients_by_name, lookup, natural_key, resolve_client};
use crate::identity::company;
use crate::inventory::assets::{self, Asset, AssetStatus, AssetType, NewAsset};
use crate::kernel::validation::ValidationErrors;
use crate::{AssetId, ClientId, DomainResult, TenantTx};

pub(super) async fn plan(tx: &mut TenantTx, p: &Parsed, errs: &mut Errors) -> DomainResult<Plan> {
    let clients = clients_by_name(tx).await?;
    let c = company::get(tx).await?;
    let (now, today) = (tx.now(), c.today(tx.now()));
    let existing = assets::all(tx).await?;
    let mut by_key: HashMap<(ClientId, String), Vec<&Asset>> = HashMap::new();
    for a in &existing {
        by_key
            .entry(natural_key(a.client_id, a.serial.as_deref(), &a.name))
            .or_default()
            .push(a);
    }
    let mut seen = Seen::new();
    let (mut new, mut changed, mut events, mut same) = (Vec::new(), Vec::new(), Vec::new(), 0);
    for i in p.rows() {
        let before = errs.0.len();
        let client = resolve_client(p, i, &clients, errs);
        let asset_type = match p.cell(i, "type") {
            None => {
                errs.add(i, "type", "required", "type must not be empty");
                AssetType::Other
            }
            Some(t) => AssetType::parse(&t.to_ascii_lowercase()).unwrap_or_else(|| {
                errs.add(
                    i,
                    "type",
                    "invalid",
                    format!(
                        "type must be one of {}",
                        AssetType::ALL
                            .iter()
                            .map(|t| t.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
                AssetType::Other
            }),
        };
        let status = match p.cell(i, "status") {
            None => AssetStatus::InUse,
            Some(s) => AssetStatus::parse(&s.to_ascii_lowercase()).unwrap_or_else(|| {
                errs.add(
                    i,
                    "status",
                    "invalid",
                    "status must be in_use, spare, in_repair or retired",
                );
                AssetStatus::InUse
            }),
        };
        let purchase_cost = p.cell(i, "purchase_cost").and_then(|s| {
            s.parse::<Decimal>()
                .map_err(|_| {
                    errs.add(
                        i,
                        "purchase_cost",
                        "invalid",
                        format!("purchase_cost must be a decimal number, not {s:?}"),
                    )
                })
                .ok()
        });
        let purchase_date = parse_date(p, i, "purchase_date", errs);
        let warranty_expires = parse_date(p, i, "warranty_expires", errs);
        let client_id = client.unwrap_or_else(|| ClientId(uuid::Uuid::nil()));
        let name = p.text(i, "name").unwrap_or_default();
        let serial = p.text(i, "serial");
        let cur = match lookup(
            &by_key,
            &natural_key(client_id, serial.as_deref(), name.trim()),
        ) {
            Found::Many => {
                let field = if serial.is_some() { "serial" } else { "name" };
                errs.add(
                    i,
                    field,
                    "ambiguous",
                    "several assets of this client match this row",
                );
                continue;
            }
            Found::One(a) => Some(*a),
            Found::None => None,
        };
        let mut v = ValidationErrors::new();
        let f = assets::check_fields(
            &mut v,
            NewAsset {
                client_id,
                name,
                asset_type,
                make: p.text(i, "make"),
                model: p.text(i, "model"),
                serial,
                hostname: p.text(i, "hostname"),
                ip_address: p.text(i, "ip_address"),
                mac_address: p.text(i, "mac_address"),
                operating_system: p.text(i, "operating_system"),
                // Not in the file: kept as they are.
                location_id: cur.and_then(|a| a.location_id),
                contact_id: cur.and_then(|a| a.contact_id),
                purchase_date,
                purchase_cost,
                currency: p.text(i, "currency"),
                warranty_expires,
                status,
                notes: p.text(i, "notes"),
            },
            &c.currency,
            today,
        );
        errs.extend(i, v, &[]);
        if client.is_none() || errs.0.len() > before {
            continue;
        }
        let k = natural_key(client_id, f.serial.as_deref(), &f.name);
        let field = if f.serial.is_some() { "serial" } else { "name" };
        if !seen.first(errs, i, k, field) {
            continue;
        }
        match cur {
            Some(cur) => {
                let after = f.preview(cur);
                let changes = assets::diff(Some(cur), &after);
                if changes.is_empty() {
                    same += 1;
                } else {
                    events.push((cur.id, "updated", serde_json::Value::Object(changes)));
                    changed.push((cur.id, f));
                }
            }
            None => {
                let blank = Asset {
                    id: AssetId::new(),
                    client_id,
                    name: String::new(),
                    asset_type,
                    make: None,
                    model: None,
                    serial: None,
                    hostname: None,
                    ip_address: None,
                    mac_address: None,
                    operating_system: None,
                    location_id: None,
                    contact_id: None,
                    purchase_date: None,
                    purchase_cost: None,
                    currency: String::new(),
                    warranty_expires: None,
                    status,
                    notes: None,
                    created_at: now,
                    updated_at: now,
                };
                let after = f.preview(&blank);
                let changes = assets::diff(None, &after);
                events.push((after.id, "created", serde_json::Value::Object(changes)));
                new.push((after.id, f));
            }
        }
    }
    Ok(Plan::Assets(new, changed, events, same))
}
