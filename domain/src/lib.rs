//! Nestogy's domain: ids, tenancy, roles, validation and the repositories
//! over PostgreSQL. It knows nothing of HTTP or of the job runtime.

pub mod audit;
pub mod billing_periods;
pub mod catalogue;
pub mod clients;
pub mod clock;
pub mod company;
pub mod contacts;
pub mod crypto;
pub mod db;
pub mod documents;
pub mod error;
pub mod files;
pub mod ids;
pub mod inbound;
pub mod invoices;
pub mod jobs;
pub mod locale;
pub mod locations;
pub mod mail;
pub mod mailboxes;
pub mod money;
pub mod numbering;
pub mod pagination;
pub mod passwords;
pub mod patch;
pub mod payments;
pub mod quotes;
pub mod recurring;
pub mod roles;
pub mod schedules;
pub mod secrets;
pub mod sla;
pub mod sla_clock;
pub mod tenancy;
pub mod threading;
pub mod tickets;
pub mod tokens;
pub mod users;
pub mod validation;

pub use error::{DomainError, DomainResult};
pub use ids::*;
pub use tenancy::{Db, SystemTx, TenantTx};
