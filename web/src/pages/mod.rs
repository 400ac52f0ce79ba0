//! The console's pages, one module per page or group of pages.

pub mod assets;
pub mod chart;
pub mod clients;
pub mod home;
pub mod invoices;
pub mod projects;
pub mod reports;
pub mod tickets;
pub mod time;
