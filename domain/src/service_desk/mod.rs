//! Support work: tickets and their threads, SLA policies and clocks,
//! contracts, support mailboxes and inbound mail, projects and time entries.

pub mod canned_replies;
pub mod checklists;
pub mod contracts;
pub mod inbound;
pub mod mailboxes;
pub mod projects;
pub mod recurring_tickets;
pub mod sla;
pub mod sla_clock;
pub mod threading;
pub mod ticket_merge;
pub mod ticket_templates;
pub mod ticket_views;
pub mod ticket_watchers;
pub mod tickets;
pub mod time_entries;
