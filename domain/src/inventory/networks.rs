//! Networks: a client's address ranges, with VLAN, gateway and DNS servers.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::kernel::error::OnConstraint;
use crate::kernel::pagination::{Cursor, Page, PageRequest, like_pattern};
use crate::kernel::validation::ValidationErrors;
use crate::{ClientId, DomainError, DomainResult, NetworkId, TenantTx, customers::clients};

/// Most DNS servers one network lists.
pub const MAX_DNS: usize = 8;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Network {
    pub id: NetworkId,
    pub client_id: ClientId,
    pub name: String,
    /// The network address and prefix length: `10.0.1.0/24`, `2001:db8::/64`.
    pub cidr: String,
    /// 1 to 4094.
    pub vlan: Option<i32>,
    /// An address inside the network.
    pub gateway: Option<String>,
    pub dns_servers: Vec<String>,
    pub notes: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: NetworkId,
    client_id: ClientId,
    name: String,
    cidr: String,
    vlan: Option<i32>,
    gateway: Option<String>,
    dns_servers: Vec<String>,
    notes: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Row> for Network {
    fn from(r: Row) -> Self {
        Network {
            id: r.id,
            client_id: r.client_id,
            name: r.name,
            cidr: r.cidr,
            vlan: r.vlan,
            gateway: r.gateway,
            dns_servers: r.dns_servers,
            notes: r.notes,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const COLUMNS: &str =
    "id, client_id, name, cidr, vlan, gateway, dns_servers, notes, created_at, updated_at";

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNetwork {
    /// Unique per client (case-insensitive).
    pub name: String,
    /// An address and prefix length; host bits are cleared (`10.0.1.7/24`
    /// becomes `10.0.1.0/24`).
    pub cidr: String,
    pub vlan: Option<i32>,
    pub gateway: Option<String>,
    /// At most 8 addresses.
    #[serde(default)]
    pub dns_servers: Vec<String>,
    pub notes: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NetworkPatch {
    pub name: Option<String>,
    pub cidr: Option<String>,
    #[serde(default, deserialize_with = "crate::kernel::patch::nullable")]
    #[schema(value_type = Option<i32>)]
    pub vlan: Option<Option<i32>>,
    #[serde(default, deserialize_with = "crate::kernel::patch::nullable")]
    #[schema(value_type = Option<String>)]
    pub gateway: Option<Option<String>>,
    /// Replaces the whole list.
    pub dns_servers: Option<Vec<String>>,
    #[serde(default, deserialize_with = "crate::kernel::patch::nullable")]
    #[schema(value_type = Option<String>)]
    pub notes: Option<Option<String>>,
}

/// A parsed CIDR block, host bits cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub network: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    /// Parses `address/prefix` (prefix at most 32 for IPv4, 128 for IPv6)
    /// and clears the host bits.
    pub fn parse(s: &str) -> Option<Cidr> {
        let (addr, prefix) = s.trim().split_once('/')?;
        let addr: IpAddr = addr.parse().ok()?;
        if prefix.is_empty() || !prefix.chars().all(|c| c.is_ascii_digit()) || prefix.len() > 3 {
            return None;
        }
        let prefix: u8 = prefix.parse().ok()?;
        let network = match addr {
            IpAddr::V4(a) if prefix <= 32 => IpAddr::V4((u32::from(a) & v4_mask(prefix)).into()),
            IpAddr::V6(a) if prefix <= 128 => IpAddr::V6((u128::from(a) & v6_mask(prefix)).into()),
            _ => return None,
        };
        Some(Cidr { network, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => u32::from(a) & v4_mask(self.prefix) == u32::from(n),
            (IpAddr::V6(n), IpAddr::V6(a)) => u128::from(a) & v6_mask(self.prefix) == u128::from(n),
            _ => false,
        }
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

fn v4_mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

fn v6_mask(prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(prefix))
    }
}

struct Fields {
    name: String,
    cidr: String,
    vlan: Option<i32>,
    gateway: Option<String>,
    dns_servers: Vec<String>,
    notes: Option<String>,
}

fn validate(v: &mut ValidationErrors, n: NewNetwork) -> Fields {
    let name = v.required_text("name", &n.name, 200);
    let cidr = Cidr::parse(&n.cidr);
    if cidr.is_none() {
        v.add(
            "cidr",
            "invalid",
            "cidr must be an IPv4 or IPv6 address with a prefix length, like 10.0.1.0/24",
        );
    }
    if n.vlan.is_some_and(|x| !(1..=4094).contains(&x)) {
        v.add("vlan", "out_of_range", "vlan must be between 1 and 4094");
    }
    let gateway = match v.optional_text("gateway", n.gateway.as_deref(), 64) {
        None => None,
        Some(g) => match g.parse::<IpAddr>() {
            Err(_) => {
                v.add("gateway", "invalid", "gateway must be an IP address");
                None
            }
            Ok(ip) => {
                if cidr.is_some_and(|c| !c.contains(ip)) {
                    v.add(
                        "gateway",
                        "outside_network",
                        "gateway must be an address inside the network",
                    );
                }
                Some(ip.to_string())
            }
        },
    };
    if n.dns_servers.len() > MAX_DNS {
        v.add(
            "dns_servers",
            "too_many",
            format!("at most {MAX_DNS} DNS servers"),
        );
    }
    let mut dns_servers: Vec<String> = Vec::new();
    for (i, d) in n.dns_servers.iter().enumerate() {
        match d.trim().parse::<IpAddr>() {
            Ok(ip) => {
                let ip = ip.to_string();
                if !dns_servers.contains(&ip) {
                    dns_servers.push(ip);
                }
            }
            Err(_) => v.add(
                "dns_servers",
                "invalid",
                format!("dns_servers[{i}] is not an IP address"),
            ),
        }
    }
    Fields {
        name,
        cidr: cidr.map(|c| c.to_string()).unwrap_or_default(),
        vlan: n.vlan,
        gateway,
        dns_servers,
        notes: v.optional_text("notes", n.notes.as_deref(), 10_000),
    }
}

fn name_taken() -> DomainError {
    DomainError::conflict(
        "network_name_taken",
        "this client already has a network of this name",
    )
}

pub async fn get(tx: &mut TenantTx, client: ClientId, id: NetworkId) -> DomainResult<Network> {
    let tenant = tx.tenant();
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM networks WHERE company_id = $1 AND client_id = $2 AND id = $3"
    )))
    .bind(tenant)
    .bind(client)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    row.map(Network::from)
        .ok_or(DomainError::not_found("network"))
}

/// A client's networks by name; `q` searches names and CIDRs.
pub async fn list(
    tx: &mut TenantTx,
    client: ClientId,
    q: Option<&str>,
    page: &PageRequest,
) -> DomainResult<Page<Network>> {
    clients::ensure_exists(tx, client).await?;
    const FILTER: &str = "company_id = $1 AND client_id = $2 \
        AND ($3::text IS NULL OR name ILIKE $3 OR cidr ILIKE $3)";
    let tenant = tx.tenant();
    let q = q.map(like_pattern);
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM networks WHERE {FILTER} \
         AND ($4::text IS NULL OR (lower(name), id) > ($4, $5)) \
         ORDER BY lower(name), id LIMIT $6"
    )))
    .bind(tenant)
    .bind(client)
    .bind(&q)
    .bind(page.after_key())
    .bind(page.after_id())
    .bind(page.fetch())
    .fetch_all(tx.conn())
    .await?;
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM networks WHERE {FILTER}"
    )))
    .bind(tenant)
    .bind(client)
    .bind(&q)
    .fetch_one(tx.conn())
    .await?;
    let rows = rows.into_iter().map(Network::from).collect();
    Ok(Page::from_rows(rows, page, total, |n: &Network| Cursor {
        key: n.name.to_lowercase(),
        id: n.id.as_uuid(),
    }))
}

pub async fn create(tx: &mut TenantTx, client: ClientId, new: NewNetwork) -> DomainResult<Network> {
    let mut v = ValidationErrors::new();
    let f = validate(&mut v, new);
    v.finish()?;
    clients::ensure_exists(tx, client).await?;
    let (tenant, now) = (tx.tenant(), tx.now());
    let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO networks (id, company_id, client_id, name, cidr, vlan, gateway, dns_servers, notes, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING {COLUMNS}"
    )))
    .bind(NetworkId::new())
    .bind(tenant)
    .bind(client)
    .bind(f.name)
    .bind(f.cidr)
    .bind(f.vlan)
    .bind(f.gateway)
    .bind(f.dns_servers)
    .bind(f.notes)
    .bind(now)
    .fetch_one(tx.conn())
    .await
    .on_constraint("networks_client_name_key", name_taken)?;
    Ok(row.into())
}

pub async fn update(
    tx: &mut TenantTx,
    client: ClientId,
    id: NetworkId,
    patch: NetworkPatch,
) -> DomainResult<Network> {
    let cur = get(tx, client, id).await?;
    let merged = NewNetwork {
        name: patch.name.unwrap_or(cur.name),
        cidr: patch.cidr.unwrap_or(cur.cidr),
        vlan: patch.vlan.unwrap_or(cur.vlan),
        gateway: patch.gateway.unwrap_or(cur.gateway),
        dns_servers: patch.dns_servers.unwrap_or(cur.dns_servers),
        notes: patch.notes.unwrap_or(cur.notes),
    };
    let mut v = ValidationErrors::new();
    let f = validate(&mut v, merged);
    v.finish()?;
    let (tenant, now) = (tx.tenant(), tx.now());
    let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE networks SET name = $4, cidr = $5, vlan = $6, gateway = $7, dns_servers = $8, notes = $9, \
         updated_at = $10 WHERE company_id = $1 AND client_id = $2 AND id = $3 RETURNING {COLUMNS}"
    )))
    .bind(tenant)
    .bind(client)
    .bind(id)
    .bind(f.name)
    .bind(f.cidr)
    .bind(f.vlan)
    .bind(f.gateway)
    .bind(f.dns_servers)
    .bind(f.notes)
    .bind(now)
    .fetch_one(tx.conn())
    .await
    .on_constraint("networks_client_name_key", name_taken)?;
    Ok(row.into())
}

pub async fn delete(tx: &mut TenantTx, client: ClientId, id: NetworkId) -> DomainResult<()> {
    let tenant = tx.tenant();
    let done =
        sqlx::query("DELETE FROM networks WHERE company_id = $1 AND client_id = $2 AND id = $3")
            .bind(tenant)
            .bind(client)
            .bind(id)
            .execute(tx.conn())
            .await?;
    if done.rows_affected() == 0 {
        return Err(DomainError::not_found("network"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs() {
        let c = Cidr::parse("10.0.1.7/24").unwrap();
        assert_eq!(c.to_string(), "10.0.1.0/24");
        assert!(c.contains("10.0.1.254".parse().unwrap()));
        assert!(!c.contains("10.0.2.1".parse().unwrap()));
        assert!(!c.contains("::1".parse().unwrap()));
        assert_eq!(Cidr::parse("0.0.0.0/0").unwrap().to_string(), "0.0.0.0/0");
        assert_eq!(
            Cidr::parse("2001:db8::1/64").unwrap().to_string(),
            "2001:db8::/64"
        );
        for bad in [
            "10.0.1.0",
            "10.0.1.0/33",
            "10.0.1/24",
            "x/8",
            "10.0.0.0/",
            "::/129",
            "10.0.0.0/+8",
        ] {
            assert_eq!(Cidr::parse(bad), None, "{bad}");
        }
    }
}
