//! The console's pages, one module per page or group of pages.

pub mod account;
pub mod assets;
pub mod billing_runs;
pub mod chart;
pub mod clients;
pub mod home;
pub mod invoices;
pub mod line_rows;
pub mod projects;
pub mod quotes;
pub mod recurring;
pub mod reports;
pub mod settings;
pub mod tickets;
pub mod time;
