//! Roles and what each may do, written once.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Tech,
    Accountant,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Tech => "tech",
            Role::Accountant => "accountant",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "tech" => Some(Role::Tech),
            "accountant" => Some(Role::Accountant),
            _ => None,
        }
    }

    /// The permission matrix of the design: admin everything; tech manages
    /// clients, contacts, locations, tickets, assets, projects and time;
    /// accountant reads clients, projects and time and manages billing
    /// (catalogue, invoices, billing time). Finance reports are for
    /// accountants, service reports for techs (and both for admins). Every role reads its own company's
    /// settings. Jobs and schedules are for admins.
    pub fn allows(self, p: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Admin => true,
            Role::Tech => matches!(
                p,
                ClientsRead
                    | ClientsWrite
                    | CompanyRead
                    | TicketsRead
                    | TicketsWrite
                    | AssetsRead
                    | AssetsWrite
                    | ProjectsRead
                    | ProjectsWrite
                    | TimeRead
                    | TimeWrite
                    | ServiceReports
            ),
            Role::Accountant => matches!(
                p,
                ClientsRead
                    | CompanyRead
                    | BillingRead
                    | BillingWrite
                    | ProjectsRead
                    | TimeRead
                    | FinanceReports
            ),
        }
    }
}

/// One thing a caller may be allowed to do. API tokens carry a subset of
/// these as scopes (`clients:read`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum Permission {
    #[serde(rename = "clients:read")]
    ClientsRead,
    #[serde(rename = "clients:write")]
    ClientsWrite,
    #[serde(rename = "company:read")]
    CompanyRead,
    #[serde(rename = "company:write")]
    CompanyWrite,
    #[serde(rename = "users:read")]
    UsersRead,
    #[serde(rename = "users:write")]
    UsersWrite,
    #[serde(rename = "audit:read")]
    AuditRead,
    #[serde(rename = "jobs:read")]
    JobsRead,
    #[serde(rename = "jobs:write")]
    JobsWrite,
    #[serde(rename = "billing:read")]
    BillingRead,
    #[serde(rename = "billing:write")]
    BillingWrite,
    #[serde(rename = "tickets:read")]
    TicketsRead,
    #[serde(rename = "tickets:write")]
    TicketsWrite,
    #[serde(rename = "assets:read")]
    AssetsRead,
    #[serde(rename = "assets:write")]
    AssetsWrite,
    #[serde(rename = "projects:read")]
    ProjectsRead,
    #[serde(rename = "projects:write")]
    ProjectsWrite,
    #[serde(rename = "time:read")]
    TimeRead,
    #[serde(rename = "time:write")]
    TimeWrite,
    /// Finance reports: read and refresh.
    #[serde(rename = "reports:finance")]
    FinanceReports,
    /// Service reports (tickets, SLAs, assets, projects): read and refresh.
    #[serde(rename = "reports:service")]
    ServiceReports,
}

impl Permission {
    pub const ALL: [Permission; 21] = [
        Permission::ClientsRead,
        Permission::ClientsWrite,
        Permission::CompanyRead,
        Permission::CompanyWrite,
        Permission::UsersRead,
        Permission::UsersWrite,
        Permission::AuditRead,
        Permission::JobsRead,
        Permission::JobsWrite,
        Permission::BillingRead,
        Permission::BillingWrite,
        Permission::TicketsRead,
        Permission::TicketsWrite,
        Permission::AssetsRead,
        Permission::AssetsWrite,
        Permission::ProjectsRead,
        Permission::ProjectsWrite,
        Permission::TimeRead,
        Permission::TimeWrite,
        Permission::FinanceReports,
        Permission::ServiceReports,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::ClientsRead => "clients:read",
            Permission::ClientsWrite => "clients:write",
            Permission::CompanyRead => "company:read",
            Permission::CompanyWrite => "company:write",
            Permission::UsersRead => "users:read",
            Permission::UsersWrite => "users:write",
            Permission::AuditRead => "audit:read",
            Permission::JobsRead => "jobs:read",
            Permission::JobsWrite => "jobs:write",
            Permission::BillingRead => "billing:read",
            Permission::BillingWrite => "billing:write",
            Permission::TicketsRead => "tickets:read",
            Permission::TicketsWrite => "tickets:write",
            Permission::AssetsRead => "assets:read",
            Permission::AssetsWrite => "assets:write",
            Permission::ProjectsRead => "projects:read",
            Permission::ProjectsWrite => "projects:write",
            Permission::TimeRead => "time:read",
            Permission::TimeWrite => "time:write",
            Permission::FinanceReports => "reports:finance",
            Permission::ServiceReports => "reports:service",
        }
    }

    pub fn parse(s: &str) -> Option<Permission> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix() {
        assert!(Role::Admin.allows(Permission::UsersWrite));
        assert!(Role::Tech.allows(Permission::ClientsWrite));
        assert!(!Role::Tech.allows(Permission::UsersRead));
        assert!(Role::Accountant.allows(Permission::ClientsRead));
        assert!(!Role::Accountant.allows(Permission::ClientsWrite));
        for p in Permission::ALL {
            assert_eq!(Permission::parse(p.as_str()), Some(p));
        }
    }
}
