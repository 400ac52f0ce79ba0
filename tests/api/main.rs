//! End-to-end tests of the API: the real router against a fresh PostgreSQL
//! database per test and the real Redis.

mod accounting;
mod assets;
mod auth;
mod bad_input;
mod catalogue;
mod clients;
mod common;
mod conflicts;
mod documents;
mod dovecot;
mod idempotency;
mod imap_harness;
mod imports;
mod inbound;
mod invoices;
mod jobs;
mod mail;
mod openapi;
mod ops;
mod outages;
mod payments;
mod processes;
mod projects;
mod quotes;
mod recurring;
mod reports;
mod rmm;
mod roles;
mod scheduler;
mod stripe;
mod tenancy;
mod tickets;
mod time_entries;
mod users;
mod webhooks;
