//! Nestogy's domain: ids, tenancy, roles, validation and the repositories
//! over PostgreSQL. It knows nothing of HTTP or of the job runtime.
//!
//! Modules are grouped by bounded context. Arrows between contexts go one
//! way, from the top of this list to the bottom: a context uses the ones
//! listed after it, never those before.
//!
//! - [`reports`]: figures computed over every other context.
//! - [`integrations`]: data in and out (imports, exports, Stripe, accounting,
//!   webhooks).
//! - [`inventory`]: the assets an MSP manages, their networks and alerts.
//! - [`service_desk`]: tickets, SLAs, support mailboxes, projects, time.
//! - [`billing`]: catalogue, invoices, quotes, payments, recurring billing,
//!   documents.
//! - [`customers`]: an MSP's clients, their contacts and locations.
//! - [`identity`]: the company (tenant), its users and their credentials.
//! - [`platform`]: jobs, schedules and outbound mail, for every context.
//! - [`kernel`]: what every context stands on: ids, errors, tenancy, money,
//!   dates, validation, pagination, roles.

pub mod billing;
pub mod customers;
pub mod identity;
pub mod integrations;
pub mod inventory;
pub mod kernel;
pub mod platform;
pub mod portal;
pub mod reports;
pub mod service_desk;

pub use kernel::error::{DomainError, DomainResult};
pub use kernel::ids::*;
pub use kernel::tenancy::{Db, SystemTx, TenantTx};
