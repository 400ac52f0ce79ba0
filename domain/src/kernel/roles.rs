//! Roles and what each may do, written once.

use crate::kernel::text::text_enum;

text_enum!(
    Role {
        Admin = "admin",
        Tech = "tech",
        Accountant = "accountant",
    }
);

impl Role {
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

text_enum!(
    /// One thing a caller may be allowed to do. API tokens carry a subset of
    /// these as scopes (`clients:read`, ...).
    Permission {
        ClientsRead = "clients:read",
        ClientsWrite = "clients:write",
        CompanyRead = "company:read",
        CompanyWrite = "company:write",
        UsersRead = "users:read",
        UsersWrite = "users:write",
        AuditRead = "audit:read",
        JobsRead = "jobs:read",
        JobsWrite = "jobs:write",
        BillingRead = "billing:read",
        BillingWrite = "billing:write",
        TicketsRead = "tickets:read",
        TicketsWrite = "tickets:write",
        AssetsRead = "assets:read",
        AssetsWrite = "assets:write",
        ProjectsRead = "projects:read",
        ProjectsWrite = "projects:write",
        TimeRead = "time:read",
        TimeWrite = "time:write",
        /// Finance reports: read and refresh.
        FinanceReports = "reports:finance",
        /// Service reports (tickets, SLAs, assets, projects): read and refresh.
        ServiceReports = "reports:service",
    }
);

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
        for &p in Permission::ALL {
            assert_eq!(Permission::parse(p.as_str()), Some(p));
        }
    }
}
