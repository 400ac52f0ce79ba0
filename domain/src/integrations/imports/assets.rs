//! Assets from a file, matched on their client and `lower(serial)`, or
//! without a serial on their client and `lower(name)`. Every write is
//! recorded in the assets' history.

use std::collections::HashMap;

use rust_decimal::Decimal;

use super::file::{Errors, Parsed, check_width, parse_date};
use super::{Found, Plan, Seen, clients_by_name, lookup, required_client, resolve_client};
use crate::identity::company;
use crate::inventory::assets::{self, Asset, AssetStatus, AssetType, NewAsset};
use crate::kernel::validation::ValidationErrors;
use crate::{AssetId, ClientId, DomainResult, TenantTx, UserId};

pub(super) async fn plan(tx: &mut TenantTx, p: &Parsed, errs: &mut Errors) -> DomainResult<Plan> {
    let clients = clients_by_name(tx).await?;
    let c = company::get(tx).await?;
    let (now, today) = (tx.now(), c.today(tx.now()));
    let existing = assets::all(tx).await?;
    let key = |client: ClientId, serial: &Option<String>, name: &str| match serial {
        Some(s) => (client, format!("s:{}", s.to_lowercase())),
        None => (client, format!("n:{}", name.to_lowercase())),
    };
    let mut by_key: HashMap<(ClientId, String), Vec<&Asset>> = HashMap::new();
    for a in &existing {
        by_key
            .entry(key(a.client_id, &a.serial, &a.name))
            .or_default()
            .push(a);
    }
    let mut seen = Seen::new();
    let (mut out, mut same) = (Vec::new(), 0);
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
        let cur = match lookup(&by_key, &key(client_id, &serial, name.trim())) {
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
        let k = key(client_id, &f.serial, &f.name);
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
                    out.push((after, "updated", serde_json::Value::Object(changes)));
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
                out.push((after, "created", serde_json::Value::Object(changes)));
            }
        }
    }
    Ok(Plan::Assets(out, same))
}

pub(super) async fn write(
    tx: &mut TenantTx,
    rows: &[(Asset, &'static str, serde_json::Value)],
    user: Option<UserId>,
) -> DomainResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let (tenant, now) = (tx.tenant(), tx.now());
    let col = |f: fn(&Asset) -> Option<String>| rows.iter().map(|r| f(&r.0)).collect::<Vec<_>>();
    // One statement inserts the new and updates the changed.
    sqlx::query(
        "INSERT INTO assets (id, company_id, client_id, name, asset_type, make, model, serial, \
         hostname, ip_address, mac_address, operating_system, location_id, contact_id, purchase_date, \
         purchase_cost, currency, warranty_expires, status, notes, created_at, updated_at) \
         SELECT u.id, $1, u.client, u.name, u.t, u.make, u.model, u.serial, u.host, u.ip, u.mac, u.os, \
         u.loc, u.contact, u.pdate, u.cost, u.cur, u.wexp, u.status, u.notes, $2, $2 \
         FROM unnest($3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], \
         $10::text[], $11::text[], $12::text[], $13::text[], $14::uuid[], $15::uuid[], $16::date[], \
         $17::numeric[], $18::text[], $19::date[], $20::text[], $21::text[]) \
         AS u(id, client, name, t, make, model, serial, host, ip, mac, os, loc, contact, pdate, cost, \
         cur, wexp, status, notes) \
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, asset_type = excluded.asset_type, \
         make = excluded.make, model = excluded.model, serial = excluded.serial, \
         hostname = excluded.hostname, ip_address = excluded.ip_address, \
         mac_address = excluded.mac_address, operating_system = excluded.operating_system, \
         purchase_date = excluded.purchase_date, purchase_cost = excluded.purchase_cost, \
         currency = excluded.currency, warranty_expires = excluded.warranty_expires, \
         status = excluded.status, notes = excluded.notes, updated_at = excluded.updated_at \
         WHERE assets.company_id = $1",
    )
    .bind(tenant)
    .bind(now)
    .bind(rows.iter().map(|r| r.0.id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.0.client_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.0.name.clone()).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.0.asset_type.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(col(|a| a.make.clone()))
    .bind(col(|a| a.model.clone()))
    .bind(col(|a| a.serial.clone()))
    .bind(col(|a| a.hostname.clone()))
    .bind(col(|a| a.ip_address.clone()))
    .bind(col(|a| a.mac_address.clone()))
    .bind(col(|a| a.operating_system.clone()))
    .bind(rows.iter().map(|r| r.0.location_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.0.contact_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.0.purchase_date).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.0.purchase_cost).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.0.currency.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.0.warranty_expires).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.0.status.as_str()).collect::<Vec<_>>())
    .bind(col(|a| a.notes.clone()))
    .execute(tx.conn())
    .await?;
    sqlx::query(
        "INSERT INTO asset_events (company_id, asset_id, kind, changes, user_id, created_at) \
         SELECT $1, u.id, u.kind, u.changes, $2, $3 \
         FROM unnest($4::uuid[], $5::text[], $6::jsonb[]) AS u(id, kind, changes)",
    )
    .bind(tenant)
    .bind(user)
    .bind(now)
    .bind(rows.iter().map(|r| r.0.id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.1).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.2.clone()).collect::<Vec<_>>())
    .execute(tx.conn())
    .await?;
    Ok(())
}
