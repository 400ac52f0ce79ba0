//! The console's pages, one module per page or group of pages.

pub mod billing_runs;
pub mod clients;
pub mod home;
pub mod invoices;
pub mod quotes;
pub mod recurring;
pub mod settings;
pub mod tickets;
